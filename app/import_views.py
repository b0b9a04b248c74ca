"""The import page: upload, dry run with the row report, then commit.

Small files are committed synchronously in one transaction (all or nothing);
a file of more than IMPORT_BACKGROUND_ROWS rows is committed in a background
thread in batches with the checkpoint, and the page shows its progress
(app/import_jobs.py); `flask sijill import` does the same from a shell. The uploaded file waits between the dry run and the commit in
the instance folder under its SHA-256, so the commit writes exactly the file
that was checked. It is kept under instance/, which is never served: no
route reads it back except as the rows of a report (a CSV attachment).
"""
import io
import os
import re

import contextlib

from flask import Response, abort, current_app, flash, g, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from sqlalchemy import select

from . import duplicates, import_jobs, imports
from .import_kinds import KINDS
from .extensions import db
from .models import Directorate
from .scope import ScopeViolation, current_scope


def _store(data):
    folder = os.path.join(current_app.instance_path, "imports")
    os.makedirs(folder, exist_ok=True)
    digest = imports.file_hash(data)
    with open(os.path.join(folder, digest), "wb") as out:
        out.write(data)
    return digest


def _load(digest):
    if not re.fullmatch(r"[0-9a-f]{64}", digest or ""):
        abort(400)
    path = os.path.join(current_app.instance_path, "imports", digest)
    if not os.path.exists(path):
        abort(404)
    with open(path, "rb") as fh:
        return fh.read()


@contextlib.contextmanager
def current_scope_check(target):
    """The scope rule of imports.run, before a background commit starts."""
    scope = current_scope()
    if scope.deny or (scope.directorate_id is not None and scope.directorate_id != target.id):
        raise ScopeViolation("import outside scope")
    yield


def _own_batch(batch_id):
    """The batch if it is the user's directorate's (or the user is ministry)."""
    batch = db.session.get(imports.ImportBatch, batch_id)
    scope = current_scope()
    if batch is None or (scope.directorate_id is not None and batch.directorate_id != scope.directorate_id):
        abort(404)
    return batch


class ImportView(BaseView):
    route_base = "/imports"
    class_permission_name = "Import"
    method_permission_name = {"index": "write", "run": "write", "template": "write", "report": "write",
                              "batch": "write", "progress": "write", "duplicates": "write", "decide": "write"}
    default_view = "index"

    def _directorate(self):
        scope = current_scope()
        if scope.directorate_id:
            return db.session.get(Directorate, scope.directorate_id)
        code = request.values.get("directorate", "")
        return db.session.scalar(select(Directorate).where(Directorate.code == code)) if code else None

    def _page(self, **kw):
        directorates = db.session.scalars(select(Directorate).order_by(Directorate.code)).all()
        return self.render_template("sijill/import.html", kinds=KINDS.values(),
                                    directorates=directorates, own=current_scope().directorate_id, **kw)

    @expose("/")
    @has_access
    def index(self):
        return self._page()

    @expose("/run", methods=["POST"])
    @has_access
    def run(self):
        kind = request.form.get("kind", imports.CITIZENS)
        target = self._directorate()
        if target is None or kind not in imports.COLUMNS:
            flash(_("Choose the type of records and the directorate."), "danger")
            return self._page()
        commit = request.form.get("action") == "commit"
        if commit:
            digest = request.form.get("file_hash", "")
            data, name = _load(digest), request.form.get("file_name", "file.csv")
        else:
            upload = request.files.get("file")
            data = upload.read() if upload else b""
            name = upload.filename if upload else ""
            if not data:
                flash(_("Choose a file to import."), "danger")
                return self._page()
            try:
                imports.check_upload(data, name)
            except imports.ImportError_ as exc:
                flash(str(exc), "danger")
                return self._page(), 400
            digest = _store(data)
        if commit and import_jobs.expected_rows(data, name) > current_app.config.get("IMPORT_BACKGROUND_ROWS", 2000):
            try:
                with current_scope_check(target):
                    batch_id = import_jobs.start(kind, data, name, target, g.user)
            except ScopeViolation:
                abort(403)
            return redirect(url_for("ImportView.batch", batch_id=batch_id))
        try:
            report = imports.run(db.session, kind, data, name, target, user=g.user, commit=commit, batch_size=0)
        except imports.ImportError_ as exc:
            flash(str(exc), "danger")
            return self._page()
        except ScopeViolation:
            abort(403)
        if commit:
            flash(_("Imported: %(created)s new, %(updated)s updated, %(unchanged)s unchanged, %(errors)s rows left out.",
                    created=report.created, updated=report.updated, unchanged=report.unchanged,
                    errors=len(report.errors)), "success")
        return self._page(report=report, file_hash=digest, file_name=name, kind=kind, target=target,
                          committed=commit)

    @expose("/batch/<int:batch_id>")
    @has_access
    def batch(self, batch_id):
        """A long file's commit: progress while it runs, the result when done."""
        batch = _own_batch(batch_id)
        return self.render_template("sijill/import_progress.html", batch=batch,
                                    state=import_jobs.progress(batch))

    @expose("/progress/<int:batch_id>")
    @has_access
    def progress(self, batch_id):
        return jsonify(import_jobs.progress(_own_batch(batch_id)))

    @expose("/duplicates/")
    @has_access
    def duplicates(self):
        """Citizens that may be one person: the manager decides."""
        scope = current_scope()
        return self.render_template("sijill/duplicates.html",
                                    pairs=duplicates.queue(db.session, scope.directorate_id))

    @expose("/duplicates/<int:pair_id>", methods=["POST"])
    @has_access
    def decide(self, pair_id):
        scope = current_scope()
        try:
            if request.form.get("decision") == "same":
                survivor = request.form.get("keep", type=int)
                kept, merged, moved = duplicates.merge(db.session, pair_id, survivor, g.user, scope.directorate_id)
                flash(_("Merged: %(moved)s records moved to %(name)s; the other record is kept in the deleted list.",
                        moved=moved, name=kept.full_name), "success")
            else:
                duplicates.mark_different(db.session, pair_id, g.user, scope.directorate_id)
                flash(_("Marked as different people."), "success")
            db.session.commit()
        except duplicates.DecisionError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        except ScopeViolation:
            db.session.rollback()
            abort(403)
        return redirect(url_for("ImportView.duplicates"))

    @expose("/report/<kind>/<file_hash>")
    @has_access
    def report(self, kind, file_hash):
        """The dry run's row report as a spreadsheet: row, column, message."""
        target = self._directorate()
        if target is None or kind not in imports.COLUMNS:
            abort(404)
        try:
            report = imports.run(db.session, kind, _load(file_hash), "report", target)
        except imports.ImportError_:
            abort(400)
        except ScopeViolation:
            abort(403)
        rows = [(e.row, e.column, e.message) for e in report.errors]
        return _xlsx(f"{kind}-report.xlsx", (_("Row"), _("Column"), _("Message")), rows)

    @expose("/template/<kind>")
    @has_access
    def template(self, kind):
        """An empty register with the Arabic headers and one example row."""
        spec = KINDS.get(kind)
        if spec is None:
            abort(404)
        return _xlsx(f"{kind}-template.xlsx", [names[0] for names in spec.columns.values()], [spec.example],
                     text=True)


def _xlsx(file_name, header, rows, text=False):
    """A one-sheet workbook, right to left. ``text``: cells formatted as text,
    so that Excel keeps a national ID's 14 digits and a leading zero."""
    from openpyxl import Workbook
    book = Workbook()
    sheet = book.active
    sheet.sheet_view.rightToLeft = True
    sheet.append([str(h) for h in header])
    for row in rows:
        sheet.append(list(row))
    if text:
        for column in sheet.iter_cols(min_row=2):
            for cell in column:
                cell.number_format = "@"
    for column in sheet.columns:
        sheet.column_dimensions[column[0].column_letter].width = 24
    out = io.BytesIO()
    book.save(out)
    return Response(out.getvalue(),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename={file_name}"})


class OccupationReviewView(BaseView):
    """Legacy occupation names no rule could match, biggest first; an admin
    maps a name once and it applies to every row with it, now and later."""
    route_base = "/occupation-review"
    class_permission_name = "OccupationReview"
    method_permission_name = {"index": "write", "map": "write"}
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        from .occupation_match import coverage, review_queue
        from .occupation_match import coverage_by_directorate
        return self.render_template("sijill/occupation_review.html", queue=review_queue(db.session),
                                    coverage=coverage(db.session), per_directorate=coverage_by_directorate(db.session))

    @expose("/map/<int:legacy_id>", methods=["POST"])
    @has_access
    def map(self, legacy_id):
        from .models import Occupation
        from .occupation_match import map_name
        code = (request.form.get("code") or "").strip()
        occupation = db.session.scalar(select(Occupation).where(Occupation.code == code)) if code else None
        try:
            if occupation is None:
                raise ValueError
            map_name(db.session, legacy_id, occupation.id, g.user)
            db.session.commit()
            flash(_("Mapped: every row with this name now counts as %(occupation)s.",
                    occupation=occupation.title_ar), "success")
        except ValueError:
            db.session.rollback()
            flash(_("Write the code of a unit group or national occupation."), "danger")
        return self.index()
