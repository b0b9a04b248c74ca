"""The decision-makers' screens: the statistics dashboard, the list of
documents and permits about to expire, and the history of the jobs.

Scope is the session's (``app.scope``): the statistics, the approvals and
the expiring records are Scoped models read through ``db.session``, so a
directorate manager's page, chart and export hold its own directorate only,
whatever the URL asks. The ministry picks a directorate or sees them all
side by side.
"""
import datetime

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext, lazy_gettext as _
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from . import audit, charts, exports, jobs, stats
from .countries import country_name
from .crud import SijillInterface, SijillModelView
from .extensions import db
from .models import (
    CERTIFICATE_KINDS, GENDER_LABELS, ISSUED, Certificate, Citizen, Directorate, Establishment, Occupation,
    Permit, SkillLevel,
)
from .scope import current_scope
from .security import METHOD_VERBS

TREND_KPIS = ("registration_issued", "tests_held", "craft_issued", "permits_issued")
SIDE_BY_SIDE_KPIS = ("registration_applied", "registration_issued", "tests_held", "tests_passed", "skill_issued",
                     "craft_issued", "permits_requested", "permits_issued", "permits_renewed", "documents_issued")
SPLIT_KPIS = ("registration_issued", "tests_held", "tests_passed", "skill_issued", "craft_issued", "permits_issued",
              "permits_renewed")
PERMIT_KPIS = ("permits_requested", "permits_issued", "permits_renewed", "permits_rejected", "permits_expired",
               "permits_active")


def _directorates():
    return {d.id: d for d in db.session.scalars(select(Directorate).order_by(Directorate.code))}


def _month_arg(name, default):
    value = request.values.get(name)
    if not value:
        return default
    try:
        return stats.parse_month(value)
    except ValueError:
        flash(gettext("“%(value)s” is not a month; write it as YYYY-MM.", value=value[:20]), "warning")
        return default


def _chosen_directorate(directorates):
    """The directorate the page is about: a directorate user's own, always;
    for the ministry the one asked for (by code), or None for all."""
    scope = current_scope()
    if scope.directorate_id is not None:
        return scope.directorate_id
    code = (request.values.get("directorate") or "").strip()
    if not code:
        return None
    for directorate in directorates.values():
        if directorate.code == code:
            return directorate.id
    flash(gettext("Unknown directorate code: %(code)s.", code=code[:10]), "warning")
    return None


def _posted_directorate(directorates):
    """The directorate a POST acts on. A directorate user acting on another
    directorate's month gets a 404 (recorded as a denial), never a change."""
    scope = current_scope()
    code = (request.form.get("directorate") or "").strip()
    wanted = next((d.id for d in directorates.values() if d.code == code), None) if code else None
    if scope.directorate_id is not None:
        if code and wanted != scope.directorate_id:
            abort(404)
        return scope.directorate_id
    if code and wanted is None:
        abort(404)
    return wanted


def _is_ministry_admin(sm):
    """Compiling again a month its manager approved is the ministry's
    decision: a ministry-wide account holding can_write on Statistics."""
    return current_scope().directorate_id is None and sm.has_access("can_write", "Statistics")


class StatisticsView(BaseView):
    route_base = "/statistics"
    class_permission_name = "Statistics"
    method_permission_name = METHOD_VERBS
    default_view = "dashboard"
    template = "sijill/dashboard.html"

    @expose("/")
    @has_access
    def dashboard(self):
        session = db.session
        directorates = _directorates()
        directorate_id = _chosen_directorate(directorates)
        latest = session.scalar(select(func.max(stats.StatMonth.month)))
        month = _month_arg("month", latest or stats.previous_month())
        rank_by = request.args.get("rank")
        if rank_by not in stats.KPI_LABELS:
            rank_by = "documents_issued"
        sm = self.appbuilder.sm
        states = stats.month_states(session, month)
        ministry = current_scope().directorate_id is None
        context = dict(
            month=month, month_key=stats.month_key(month), directorate_id=directorate_id,
            directorate=directorates.get(directorate_id), directorates=directorates, ministry=ministry,
            kpi_labels=stats.KPI_LABELS, kpis=stats.KPIS, trend_kpis=TREND_KPIS,
            split_kpis=SPLIT_KPIS, permit_kpis=PERMIT_KPIS,
            state=states.get(directorate_id) if directorate_id else None,
            states=states, complete=stats.is_complete(month),
            warnings=jobs.failing(session),
            can_approve=sm.has_access("can_approve", "Statistics"),
            can_compile=sm.has_access("can_write", "Statistics"),
            can_export=sm.has_access("can_export", "Statistics"),
            is_ministry_admin=_is_ministry_admin(sm),
            rank_by=rank_by, side_kpis=SIDE_BY_SIDE_KPIS,
        )
        # The figures may come from the read replica (READ_REPLICA_URL); the
        # approvals and the warnings, just written, from the primary.
        reader, own = exports.reading_session(session)
        try:
            context.update(self._figures(reader, month, directorate_id))
            if ministry and directorate_id is None:
                context.update(self._side_by_side(reader, month, directorates, states, rank_by))
        finally:
            if own:
                reader.close()
        return self.render_template(self.template, **context)

    def _figures(self, session, month, directorate_id):
        trend = stats.trend(session, month, 12, directorate_id, kpis=TREND_KPIS)
        return dict(
            figures=stats.month_kpis(session, month, directorate_id),
            before=stats.month_kpis(session, stats.add_months(month, -1), directorate_id),
            trend=trend, trend_chart=self._trend_chart(trend),
            level_rows=self._levels(session, month, directorate_id),
            gender_table=self._split(session, month, directorate_id, "gender",
                                     [(k, GENDER_LABELS[k]) for k in ("M", "F")]),
            age_table=self._split(session, month, directorate_id, "age_band", [(b, b) for b in stats.AGE_BANDS]),
            group_rows=self._groups(session, month, directorate_id),
            nationality_rows=self._nationalities(session, month, directorate_id),
        )

    @staticmethod
    def _side_by_side(session, month, directorates, states, rank_by):
        values = stats.by_directorate(session, month)
        for d in directorates:
            values.setdefault(d, {k: 0 for k in stats.KPI_LABELS})
        ranked = stats.ranking(values, rank_by)
        return dict(
            side_by_side=[(rank, directorates[d], values[d], states.get(d)) for rank, d, _v in ranked],
            ranking_chart=charts.bar_chart([(str(directorates[d]), v) for _r, d, v in ranked],
                                           str(stats.KPI_LABELS[rank_by])),
        )

    # --- pieces of the page ---------------------------------------------------------
    @staticmethod
    def _trend_chart(trend):
        labels = [stats.month_key(m)[2:] for m, _v in trend]
        series = [(str(stats.KPI_LABELS[k]), [values[k] for _m, values in trend]) for k in TREND_KPIS]
        return charts.line_chart(labels, series, str(_("The last 12 months")))

    @staticmethod
    def _levels(session, month, directorate_id):
        cells = stats.breakdown(session, month, "skill_level", ["skill_test", "skill_cert"], directorate_id)
        names = {lvl.rank: str(lvl) for lvl in session.scalars(select(SkillLevel).order_by(SkillLevel.rank))}
        rows = []
        for rank, name in names.items():
            held = sum(n for (s, m, o, r), n in cells.items() if s == "skill_test" and r == rank)
            passed = cells.get(("skill_test", "held", "pass", rank), 0)
            issued = sum(n for (s, m, o, r), n in cells.items() if (s, m) == ("skill_cert", "issued") and r == rank)
            rows.append({"level": name, "held": held, "passed": passed, "failed": held - passed,
                         "rate": round(100 * passed / held) if held else None, "issued": issued})
        return rows

    @staticmethod
    def _split(session, month, directorate_id, dimension, columns):
        values = stats.kpi_values(stats.cells(session, month, month, directorate_id, by=(dimension,)), extra=1)
        return {"columns": [label for _key, label in columns],
                "rows": [(stats.KPI_LABELS[k], [values.get((key,), {}).get(k, 0) for key, _l in columns])
                         for k in SPLIT_KPIS]}

    @staticmethod
    def _groups(session, month, directorate_id):
        values = stats.kpi_values(stats.cells(session, month, month, directorate_id, by=("occupation_group",)),
                                  extra=1)
        return [(code, label, values.get((code,), {})) for code, label in stats.OCCUPATION_GROUPS.items()
                if any(values.get((code,), {}).get(k) for k in SPLIT_KPIS + PERMIT_KPIS)]

    @staticmethod
    def _nationalities(session, month, directorate_id):
        values = stats.kpi_values(stats.cells(session, month, month, directorate_id, by=("nationality",)), extra=1)
        rows = [(country_name(code), kpis) for (code,), kpis in values.items() if code]
        return sorted(rows, key=lambda row: (-row[1]["permits_active"], -row[1]["permits_requested"], row[0]))

    # --- approval and compilation ---------------------------------------------------
    def _back(self, month, directorate_id=None, directorates=None):
        args = {"month": stats.month_key(month)}
        if directorate_id and current_scope().directorate_id is None and directorates:
            args["directorate"] = directorates[directorate_id].code
        return redirect(url_for(f"{self.endpoint}.dashboard", **args))

    def _posted_month(self):
        try:
            return stats.parse_month(request.form.get("month"))
        except ValueError:
            flash(gettext("Choose the month (YYYY-MM)."), "danger")
            return None

    @expose("/approve", methods=["POST"])
    @has_access
    def approve_month(self):
        """A manager approves its directorate's figures of a month: locked."""
        directorates = _directorates()
        directorate_id = _posted_directorate(directorates)
        month = self._posted_month()
        if month is None:
            return redirect(url_for(f"{self.endpoint}.dashboard"))
        if directorate_id is None:
            flash(gettext("Choose the directorate whose figures you approve."), "danger")
            return self._back(month)
        back = self._back(month, directorate_id, directorates)
        if not stats.is_complete(month):
            flash(gettext("A month is approved once it has ended."), "danger")
            return back
        session = db.session
        state = session.scalars(select(stats.StatMonth).where(
            stats.StatMonth.directorate_id == directorate_id, stats.StatMonth.month == month).with_for_update()).first()
        if state is None:
            flash(gettext("This month's figures have not been compiled yet: nothing to approve."), "danger")
            return back
        if state.locked:
            flash(gettext("These figures were already approved."), "info")
            return back
        state.approved_at, state.approved_by_id = datetime.datetime.utcnow(), g.user.id
        audit.mark(state, "approve", f"statistics {stats.month_key(month)}")
        try:
            session.commit()
        except SQLAlchemyError:
            session.rollback()
            flash(gettext("The approval could not be saved; nothing was changed. Try again."), "danger")
            return back
        flash(gettext("Approved: the figures of %(month)s are locked.", month=stats.month_key(month)), "success")
        return back

    @expose("/compile", methods=["POST"])
    @has_access
    def compile_month(self):
        """Compile a month now (all directorates, or one). Approved months
        are left alone unless a ministry admin asks to include them."""
        directorates = _directorates()
        directorate_id = _posted_directorate(directorates)
        month = self._posted_month()
        if month is None:
            return redirect(url_for(f"{self.endpoint}.dashboard"))
        include_locked = request.form.get("include_locked") == "1"
        if include_locked and not _is_ministry_admin(self.appbuilder.sm):
            abort(403)
        if month > datetime.date.today():
            flash(gettext("A month in the future has nothing to compile."), "danger")
            return self._back(month, directorate_id, directorates)
        outcome = jobs.run("monthly_stats", stats.month_key(month), trigger=jobs.MANUAL, username=g.user.username,
                           directorate_ids=[directorate_id] if directorate_id else None,
                           include_locked=include_locked)
        if outcome.ok:
            flash(gettext("Compiled %(month)s: %(rows)s statistics rows.", month=stats.month_key(month),
                          rows=outcome.rows), "success")
            locked = db.session.scalar(select(func.count(stats.StatMonth.id)).where(
                stats.StatMonth.month == month, stats.StatMonth.approved_at.isnot(None)))
            if locked and not include_locked:
                flash(gettext("%(count)s approved directorate(s) were left as approved.", count=locked), "info")
        else:
            flash(gettext("The compilation failed; nothing was changed. It is in the jobs' history."), "danger")
        return self._back(month, directorate_id, directorates)

    @expose("/rerun", methods=["POST"])
    @has_access
    def rerun_job(self):
        """Run a failed job again now (the dashboard's warning offers it)."""
        name = request.form.get("job", "")
        period = (request.form.get("period") or "").strip()[:10]
        if name not in jobs.JOBS or not period:
            abort(404)
        outcome = jobs.run(name, period, trigger=jobs.MANUAL, username=g.user.username)
        if outcome.ok:
            flash(gettext("%(job)s %(period)s ran again: %(rows)s rows.", job=jobs.JOBS[name].label, period=period,
                          rows=outcome.rows), "success")
        else:
            flash(gettext("%(job)s failed again; see the jobs' history.", job=jobs.JOBS[name].label), "danger")
        return redirect(url_for(f"{self.endpoint}.dashboard"))

    # --- export ---------------------------------------------------------------------
    def _export(self, fmt):
        directorates = _directorates()
        directorate_id = _chosen_directorate(directorates)
        default = stats.previous_month()
        first = _month_arg("from", _month_arg("month", default))
        last = _month_arg("to", first)
        if last < first:
            first, last = last, first
        session, _own = exports.reading_session(db.session)
        rows = ([exports.cell(v) for v in row] for row in stats.export_rows(session, first, last, directorate_id))
        headers = [str(h) for h in stats.EXPORT_HEADERS]
        detail = {"format": fmt, "from": stats.month_key(first), "to": stats.month_key(last),
                  "directorate": directorates[directorate_id].code if directorate_id else None}

        def done(count):
            audit.record_event_now(db.engine, "export", entity="MonthlyStat", directorate_id=directorate_id,
                                   detail=dict(detail, rows=count))
        name = f"statistics-{stats.month_key(first)}" + (f"-{stats.month_key(last)}" if last != first else "")
        if directorate_id:
            name += f"-{directorates[directorate_id].code}"
        maker = exports.csv_response if fmt == "csv" else exports.xlsx_response
        return maker(name, headers, rows, done)

    @expose("/export/csv")
    @has_access
    def export_csv(self):
        return self._export("csv")

    @expose("/export/xlsx")
    @has_access
    def export_xlsx(self):
        return self._export("xlsx")


# --- Expiring within the window ------------------------------------------------------
def expiring_documents(session, today, window, directorate_id=None):
    end = today + datetime.timedelta(days=window)
    query = (
        select(Certificate.id, Certificate.kind, Certificate.serial, Certificate.expiry_date, Citizen.full_name,
               Citizen.national_id, Occupation.code, Occupation.title_ar, Directorate.name_ar)
        .join(Citizen, Citizen.id == Certificate.citizen_id)
        .join(Occupation, Occupation.id == Certificate.occupation_id)
        .join(Directorate, Directorate.id == Certificate.directorate_id)
        .where(Certificate.status == ISSUED, Certificate.expiry_date >= today, Certificate.expiry_date <= end)
        .order_by(Certificate.expiry_date, Certificate.id)
    )
    if directorate_id is not None:
        query = query.where(Certificate.directorate_id == directorate_id)
    return query


def expiring_permits(session, today, window, directorate_id=None):
    end = today + datetime.timedelta(days=window)
    query = (
        select(Permit.id, Permit.kind, Permit.serial, Permit.end_date, Permit.worker_name, Permit.passport_number,
               Permit.nationality, Occupation.code, Occupation.title_ar, Establishment.name, Directorate.name_ar)
        .join(Occupation, Occupation.id == Permit.occupation_id)
        .join(Establishment, Establishment.id == Permit.establishment_id)
        .join(Directorate, Directorate.id == Permit.directorate_id)
        .where(Permit.status == ISSUED, Permit.end_date >= today, Permit.end_date <= end)
        .order_by(Permit.end_date, Permit.id)
    )
    if directorate_id is not None:
        query = query.where(Permit.directorate_id == directorate_id)
    return query


def _count(session, query):
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))


class ExpiringView(BaseView):
    """Each directorate's documents and permits ending within the window."""

    route_base = "/expiring"
    class_permission_name = "Expiring"
    method_permission_name = METHOD_VERBS
    default_view = "list"
    page_size = 100

    def _window(self):
        from flask import current_app
        return current_app.config.get("EXPIRING_WINDOW_DAYS", 30)

    @staticmethod
    def _page(name):
        value = request.args.get(name, "0")
        return int(value) if value.isdigit() else 0

    @expose("/")
    @has_access
    def list(self):
        session = db.session
        directorates = _directorates()
        directorate_id = _chosen_directorate(directorates)
        today, window = datetime.date.today(), self._window()
        documents = expiring_documents(session, today, window, directorate_id)
        permits = expiring_permits(session, today, window, directorate_id)
        dpage, ppage = self._page("dpage"), self._page("ppage")
        sm = self.appbuilder.sm
        return self.render_template(
            "sijill/expiring.html", today=today, window=window, until=today + datetime.timedelta(days=window), directorates=directorates,
            directorate_id=directorate_id, ministry=current_scope().directorate_id is None,
            documents=session.execute(documents.limit(self.page_size).offset(dpage * self.page_size)).all(),
            documents_total=_count(session, documents), dpage=dpage,
            permits=session.execute(permits.limit(self.page_size).offset(ppage * self.page_size)).all(),
            permits_total=_count(session, permits), ppage=ppage, page_size=self.page_size,
            kinds=CERTIFICATE_KINDS, country_name=country_name,
            can_export=sm.has_access("can_export", "Expiring"),
            directorate_code=directorates[directorate_id].code if directorate_id else "",
        )

    def _rows(self, session, today, window, directorate_id):
        permit_label = str(_("Foreign work permit"))
        for row in session.execute(expiring_documents(session, today, window, directorate_id)
                                   .execution_options(yield_per=2000)):
            yield [exports.cell(v) for v in (
                str(CERTIFICATE_KINDS.get(row.kind, row.kind)), row.serial, row.full_name, row.national_id, "",
                f"{row.code} {row.title_ar}", "", row.name_ar, row.expiry_date, (row.expiry_date - today).days)]
        for row in session.execute(expiring_permits(session, today, window, directorate_id)
                                   .execution_options(yield_per=2000)):
            yield [exports.cell(v) for v in (
                permit_label, row.serial, row.worker_name, row.passport_number, country_name(row.nationality),
                f"{row.code} {row.title_ar}", row.name, row.name_ar, row.end_date, (row.end_date - today).days)]

    def _export(self, fmt):
        directorates = _directorates()
        directorate_id = _chosen_directorate(directorates)
        today, window = datetime.date.today(), self._window()
        session, _own = exports.reading_session(db.session)
        headers = [str(h) for h in (_("Type"), _("Serial"), _("Holder"), _("National ID / passport"),
                                    _("Nationality"), _("Occupation"), _("Establishment"), _("Directorate"),
                                    _("Valid until"), _("Days left"))]

        def done(count):
            audit.record_event_now(db.engine, "export", entity="Expiring", directorate_id=directorate_id,
                                   detail={"format": fmt, "window": window, "rows": count})
        name = f"expiring-{today.isoformat()}" + (f"-{directorates[directorate_id].code}" if directorate_id else "")
        maker = exports.csv_response if fmt == "csv" else exports.xlsx_response
        return maker(name, headers, self._rows(session, today, window, directorate_id), done)

    @expose("/export/csv")
    @has_access
    def export_csv(self):
        return self._export("csv")

    @expose("/export/xlsx")
    @has_access
    def export_xlsx(self):
        return self._export("xlsx")


# --- Jobs' history (admins) ------------------------------------------------------------
class JobRunView(SijillModelView):
    datamodel = SijillInterface(jobs.JobRun)
    class_permission_name = "JobRun"
    base_permissions = ["can_read"]
    list_columns = ["started_at", "job_label", "period", "trigger_label", "attempt", "outcome_label", "rows",
                    "duration", "username", "host"]
    show_columns = ["job_label", "period", "trigger_label", "attempt", "started_at", "finished_at", "duration",
                    "outcome_label", "rows", "error", "username", "host"]
    search_columns = ["job", "period", "outcome", "trigger", "started_at"]
    label_columns = {"job_label": _("Job"), "trigger_label": _("Trigger"), "outcome_label": _("Outcome"),
                     "duration": _("Duration (seconds)")}
    list_title = show_title = _("Runs of the scheduled jobs")
    formatters_columns = {
        "error": lambda v: Markup('<pre class="sijill-error">{}</pre>').format(v) if v else "",
        "started_at": lambda v: f"{v:%Y-%m-%d %H:%M:%S}" if v else "",
        "finished_at": lambda v: f"{v:%Y-%m-%d %H:%M:%S}" if v else "",
        "username": lambda v: v or "—",
    }
    base_order = ("id", "desc")
