"""Printing from the screens: a "Print" button on the show page of a
certificate, skill test or permit, and a "Print selected" list action that
returns one merged PDF.

Both read the records through the view's datamodel, so through the session's
directorate scope (``app.scope``): another directorate's id loads as nothing
and is answered 404, for one record and for a batch. Each print is written to
the audit trail (``audit.record_event``, entity and id of the document, so it
shows in the record's history) as "print" the first time and "reprint" after,
or "print_preview" for a draft's watermarked preview.
"""
import json

from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.actions import action
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _
from sqlalchemy import func, select

from . import audit, documents
from .extensions import db
from .models import AuditLog

PRINT, REPRINT, PREVIEW = "print", "reprint", "print_preview"


def _earlier_prints(docs):
    """{(entity, id): number of valid prints so far} for these documents."""
    ids = {}
    for doc in docs:
        ids.setdefault(type(doc).__name__, set()).add(doc.id)
    counts = {}
    for entity, record_ids in ids.items():
        rows = db.session.execute(
            select(AuditLog.record_id, func.count()).where(
                AuditLog.entity == entity, AuditLog.record_id.in_(record_ids),
                AuditLog.action.in_((PRINT, REPRINT))).group_by(AuditLog.record_id))
        counts.update({(entity, rid): n for rid, n in rows})
    return counts


def record_prints(docs, previews, batch=False):
    """One audit row per document printed, in the caller's transaction."""
    earlier = _earlier_prints([d for d in docs if d.id not in previews])
    for doc in docs:
        entity = type(doc).__name__
        if doc.id in previews:
            kind, copy = PREVIEW, None
        else:
            copy = earlier.get((entity, doc.id), 0) + 1
            kind = PRINT if copy == 1 else REPRINT
        detail = {"serial": doc.serial, "status": doc.status}
        if copy:
            detail["copy"] = copy
        if batch:
            detail["batch"] = len(docs)
        audit.record_event(db.session, kind, entity=entity, record_id=doc.id,
                           directorate_id=doc.directorate_id, detail=json.dumps(detail, ensure_ascii=False))


def pdf_response(pdf, name):
    response = current_app.response_class(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"  # personal data: never kept by a proxy
    return response


class Printable:
    """Mixin for the ModelViews whose records print as a document."""

    @expose("/print/<int:pk>")
    @has_access
    def print_document(self, pk):
        item = self.datamodel.get(pk)  # scoped: another directorate's id is None
        if item is None:
            abort(404)
        try:
            doc = documents.document_of(item)
            preview = documents.is_preview(doc)
            pdf = documents.render(doc)
        except documents.DocumentRefused as exc:
            flash(str(exc.message), "warning")
            return redirect(url_for(f"{self.endpoint}.show", pk=pk))
        record_prints([doc], {doc.id} if preview else set())
        db.session.commit()
        return pdf_response(pdf, documents.filename(doc))

    @action("print_batch", _("Print selected"), None, "fa-print", multiple=True, single=False)
    def print_batch(self, items):
        """One PDF of the selected issued documents. Drafts and documents no
        longer valid are left out and named; nothing prints if none remain."""
        items = items if isinstance(items, list) else [items]
        if any(item is None for item in items):
            abort(404)  # an id outside the user's scope (or gone): nothing prints
        limit = int(current_app.config.get("PRINT_BATCH_MAX", 100))
        if len(items) > limit:
            flash(str(_("Select at most %(n)s documents to print at once.", n=limit)), "warning")
            return redirect(self.get_redirect())
        docs, skipped = [], []
        for item in items:
            try:
                doc = documents.document_of(item)
                if documents.is_preview(doc):
                    skipped.append(str(item))
                else:
                    docs.append(doc)
            except documents.DocumentRefused:
                skipped.append(str(item))
        if skipped:
            flash(str(_("Only issued, valid documents print in a batch; left out: %(records)s",
                        records="، ".join(skipped[:20]))), "warning")
        if not docs:
            return redirect(self.get_redirect())
        pdf = documents.render_batch(docs)
        record_prints(docs, set(), batch=True)
        db.session.commit()
        return pdf_response(pdf, f"documents-{len(docs)}.pdf")

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        # Row ids are typed into the form by hand too: a non-number is no row.
        if request.form.get("action") == "print_batch":
            if not all(pk.isdigit() for pk in request.form.getlist("rowid")):
                abort(404)
        return super().action_post()

    def links_for(self, item):
        links = list(super().links_for(item))
        if self.appbuilder.sm.has_access("can_print", self.class_permission_name):
            try:
                doc = documents.document_of(item)
                preview = documents.is_preview(doc)
            except documents.DocumentRefused:
                return links
            label = _("Print preview (not valid)") if preview else _("Print")
            links.insert(0, {"url": url_for(f"{self.endpoint}.print_document", pk=item.id),
                             "label": label, "icon": "fa-print"})
        return links
