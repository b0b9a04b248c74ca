"""The import page: upload, dry run with the row report, then commit.

Small files are committed synchronously in one transaction (all or nothing);
large registers go through `flask sijill import` (batches, checkpoint,
progress bar). The uploaded file waits between the dry run and the commit in
the instance folder under its SHA-256, so the commit writes exactly the file
that was checked. It is kept under instance/, which is never served: no
route reads it back except as the rows of a report (a CSV attachment).
"""
import csv
import io
import os
import re

from flask import Response, abort, current_app, flash, g, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from sqlalchemy import select

from . import imports
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


class ImportView(BaseView):
    route_base = "/imports"
    class_permission_name = "Import"
    method_permission_name = {"index": "write", "run": "write", "template": "write", "report": "write"}
    default_view = "index"

    def _directorate(self):
        scope = current_scope()
        if scope.directorate_id:
            return db.session.get(Directorate, scope.directorate_id)
        code = request.values.get("directorate", "")
        return db.session.scalar(select(Directorate).where(Directorate.code == code)) if code else None

    def _page(self, **kw):
        directorates = db.session.scalars(select(Directorate).order_by(Directorate.code)).all()
        return self.render_template("sijill/import.html", kinds=list(imports.COLUMNS),
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

    @expose("/report/<kind>/<file_hash>")
    @has_access
    def report(self, kind, file_hash):
        """The dry run's row report as a spreadsheet (CSV, Excel-readable)."""
        target = self._directorate()
        if target is None or kind not in imports.COLUMNS:
            abort(404)
        try:
            report = imports.run(db.session, kind, _load(file_hash), "report", target)
        except imports.ImportError_:
            abort(400)
        except ScopeViolation:
            abort(403)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([_("Row"), _("Column"), _("Message")])
        for error in report.errors:
            writer.writerow([error.row, error.column, error.message])
        return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=import-report.csv"})

    @expose("/template/<kind>")
    @has_access
    def template(self, kind):
        """An empty register with the Arabic headers and one example row."""
        if kind not in imports.COLUMNS:
            abort(404)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([names[0] for names in imports.COLUMNS[kind].values()])
        writer.writerow(imports.EXAMPLE[kind])
        return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename={kind}-template.csv"})


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
        return self.render_template("sijill/occupation_review.html", queue=review_queue(db.session),
                                    coverage=coverage(db.session))

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
