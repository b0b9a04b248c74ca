"""Sijill's base ModelView: what every screen needs and stock FAB lacks.

* Labels come from the model (``info["label"]``), so a column is named once.
* Saving goes through the model rules (``app.rules``); a ``RuleViolation`` is
  shown on the fields it names, with the posted values kept. FAB's own
  ``_add``/``_edit`` flash one generic error and lose the field.
* A stale edit (someone saved the record since this form was opened) is
  refused with the current values: the form carries the version it showed.
* Delete hides the row (soft delete, with who and why) instead of removing it.
* Every list has a deterministic order served by an index (``base_order``).
* Workflow steps (submit, approve, reject, revoke) are one POST endpoint.
"""
import datetime

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_login import current_user
from flask_appbuilder import ModelView, expose
from flask_appbuilder.actions import action
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.urltools import get_filter_args, get_order_args
from flask_babel import format_decimal, lazy_gettext as _
from markupsafe import escape
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy import Boolean, Integer
from sqlalchemy.orm import joinedload
from flask_appbuilder.fields import QuerySelectField
from wtforms import BooleanField, HiddenField
from wtforms.fields.core import UnboundField

from . import audit, exports, workflow
from .extensions import db
from .filters import SijillFilterConverter, SijillFilters
from .models import RuleViolation, Scoped, SoftDeleted
from .render_cache import CachedSearchWidget
from .scope import ScopeViolation, current_scope
from .security import METHOD_VERBS

# The column that holds a record's directorate (app.scope.Scoped).
SCOPE_COLUMNS = ("directorate",)

STALE_MESSAGE = _("Someone else saved this record while you were editing it. "
                  "The form now shows the current values; apply your change again.")


class CappedCount(int):
    """A list's row count that FAB's pager can do arithmetic with, shown as a
    label: exact up to LIST_COUNT_CAP, "more than N" beyond it."""

    def __new__(cls, value, cap):
        obj = super().__new__(cls, value)
        obj.capped = value > cap
        obj.cap = cap
        return obj

    def label(self):
        if self.capped:
            return str(_("more than %(n)s", n=format_decimal(self.cap)))
        return format_decimal(int(self))

    def __str__(self):
        return self.label()

    def __html__(self):
        return str(escape(self.label()))


class SijillInterface(SQLAInterface):
    """FAB's SQLAlchemy interface with soft delete for SoftDeleted models, and
    a capped count: FAB counts every row on every list page (45-65 ms over a
    million citizens); here the count stops at LIST_COUNT_CAP + 1 rows, read
    from the same filtered, scoped query (an index-only scan)."""

    filter_converter_class = SijillFilterConverter

    # The largest id a BIGINT holds: an id typed in a URL or posted beyond it
    # made SQLite raise OverflowError and PostgreSQL "integer out of range"
    # (a 500); not a number at all made PostgreSQL fail the cast.
    MAX_ID = 2 ** 63 - 1

    def get(self, id, filters=None, select_columns=None, outer_default_load=False):
        if not self.is_pk_composite() and isinstance(getattr(self.list_columns.get(self.get_pk_name()), "type", None), Integer):
            try:
                if not 0 < int(str(id).strip()) <= self.MAX_ID:
                    return None
            except (TypeError, ValueError):
                return None
        return super().get(id, filters, select_columns, outer_default_load)

    def query(self, filters=None, order_column="", order_direction="", page=None, page_size=None,
              select_columns=None, outer_default_load=False):
        """FAB counts before it reads the page. Here the page comes first: a
        page that is not full is the last one, so the count is the rows
        before it plus the rows on it, and no COUNT is run — the usual case
        of a search by national ID, a name or a serial (one round trip of
        two saved)."""
        before = (page or 0) * (page_size or 0)
        rows = self._page(filters, order_column, order_direction, page, page_size, select_columns,
                          outer_default_load, deferred=before >= self.DEFERRED_JOIN_FROM)
        on_page = len(rows)
        last_page = not page_size or 0 < on_page < page_size or (before == 0 and on_page == 0)
        if last_page:
            count = CappedCount(before + on_page, int(current_app.config.get("LIST_COUNT_CAP", 10000)))
        else:
            count = self.query_count(self.session.query(self.obj), filters, select_columns)
        if rows and hasattr(rows[0], self.obj.__name__):
            rows = [getattr(row, self.obj.__name__) for row in rows]
        return count, rows

    # From this many rows into a list, a page is read as a deferred join:
    # first the page's ids, which the (directorate_id, id) index answers
    # alone, then those rows. OFFSET over whole rows reads every row before
    # the page from the table and throws it away (a Cairo manager's page
    # 1976 read 49,400 rows, 65-90 ms at 1M citizens, 0.9 s at 10M).
    DEFERRED_JOIN_FROM = 1000

    def _page(self, filters, order_column, order_direction, page, page_size, select_columns,
              outer_default_load, deferred):
        query = self.apply_all(self._rows_query(select_columns), filters, order_column, order_direction,
                               page, page_size, select_columns, outer_default_load)
        if not deferred or select_columns or self.is_pk_composite():
            return query.all()
        pk = self.get_pk()
        ids = [row[0] for row in query.with_entities(pk)]
        if not ids:
            return []
        by_id = {getattr(row, pk.key): row for row in self._rows_query(None).filter(pk.in_(ids))}
        return [by_id[i] for i in ids if i in by_id]

    def _rows_query(self, select_columns):
        """A screen's rows come with their directorate, which nearly every
        list shows (a lazy load was one more round trip per page). Here, not
        on the relationship: a joined load everywhere put an outer join under
        SELECT … FOR UPDATE, which PostgreSQL refuses; FAB's REST queries
        (select_columns) load relations their own way."""
        query = self.session.query(self.obj)
        if select_columns is None and issubclass(self.obj, Scoped):
            query = query.options(joinedload(self.obj.directorate))
        return query

    def get_filters(self, search_columns=None, search_filters=None):
        return SijillFilters(self.filter_converter_class, self, search_columns=search_columns or [],
                             search_filters=search_filters)

    def query_count(self, query, filters=None, select_columns=None):
        cap = int(current_app.config.get("LIST_COUNT_CAP", 10000))
        inner = self._apply_inner_all(query, filters, select_columns=select_columns, aliases_mapping={})
        counted = inner.with_entities(self.get_pk()).order_by(None).limit(cap + 1).count()
        return CappedCount(counted, cap)

    def delete(self, item, commit=True):
        if isinstance(item, SoftDeleted):
            user = g.get("user")
            item.deleted_at = datetime.datetime.utcnow()
            item.deleted_by_id = getattr(user, "id", None)
            item.delete_reason = (request.form.get("reason") or "").strip()[:500] or None
            if commit:
                self.session.commit()
            return
        super().delete(item, commit)

    def delete_all(self, items):
        for item in items:
            self.delete(item, commit=False)
        self.session.commit()


def model_labels(model):
    labels = {}
    for attr in model.__mapper__.attrs:
        info = getattr(attr, "info", None) or {}
        if not info and hasattr(attr, "columns"):
            info = attr.columns[0].info
        if "label" in info:
            labels[attr.key] = info["label"]
    return labels


NO_CHOICE = _("— none —")


def _name_the_blank_choice(form):
    """FAB's optional relation drop-downs (a certificate's skill level…) offer
    a blank choice with no text, which WTForms 3 shows as its value:
    "__None". It is given words instead."""
    fields = (getattr(form, name, None) for name in dir(form))
    for field in fields:
        if (isinstance(field, UnboundField) and issubclass(field.field_class, QuerySelectField)
                and field.kwargs.get("allow_blank") and not field.kwargs.get("blank_text")):
            field.kwargs["blank_text"] = NO_CHOICE


class SijillModelView(ModelView):
    method_permission_name = METHOD_VERBS
    page_size = 25
    base_order = ("id", "desc")
    show_template = "sijill/show.html"
    edit_template = "sijill/edit.html"
    # Pickers replace FAB's whole-table drop-downs (see app.pickers).
    pickers = {}
    picker_optional = ()
    search_widget = CachedSearchWidget

    def __init__(self, **kwargs):
        labels = model_labels(self.datamodel.obj)
        labels.update(self.label_columns or {})
        self.label_columns = labels
        if self.pickers:
            from .pickers import PickerField
            extra = {name: PickerField(labels.get(name, name), picker=picker,
                                         allow_blank=name in self.picker_optional)
                     for name, picker in self.pickers.items()}
            self.add_form_extra_fields = {**extra, **(self.add_form_extra_fields or {})}
            self.edit_form_extra_fields = {**extra, **(self.edit_form_extra_fields or {})}
        # FAB marks a NOT NULL boolean as required, so an unticked box can
        # never be saved: booleans get a plain checkbox.
        booleans = {name: BooleanField(labels.get(name, name)) for name in self._boolean_columns()}
        if booleans:
            self.add_form_extra_fields = {**booleans, **(self.add_form_extra_fields or {})}
            self.edit_form_extra_fields = {**booleans, **(self.edit_form_extra_fields or {})}
        if hasattr(self.datamodel.obj, "version") and self.edit_columns:
            # rendered by FAB's form.hidden_tag(), never as a row of the form
            self.edit_form_extra_fields = dict(self.edit_form_extra_fields or {},
                                               row_version=HiddenField())
            self.edit_columns = list(self.edit_columns) + ["row_version"]
        super().__init__(**kwargs)
        for form in (self.add_form, self.edit_form, self.search_form):
            _name_the_blank_choice(form)

    def _boolean_columns(self):
        columns = set(self.add_columns or []) | set(self.edit_columns or [])
        return [c.key for c in self.datamodel.obj.__table__.columns
                if c.key in columns and isinstance(c.type, Boolean)]

    # --- saving through the rules -------------------------------------------
    def _save(self, form, item, is_new):
        """Populate and commit; on a rule broken, put messages on the form."""
        session = self.datamodel.session
        try:
            form.populate_obj(item)
            if is_new:
                self.pre_add(item)
                session.add(item)
            else:
                self.pre_update(item)
            session.commit()
        except RuleViolation as exc:
            session.rollback()
            self._show_errors(form, exc.errors)
            return False
        except StaleDataError:
            session.rollback()
            flash(str(STALE_MESSAGE), "danger")
            return False
        except IntegrityError:
            session.rollback()
            flash(str(_("This record conflicts with an existing one (a unique number is already used).")),
                  "danger")
            return False
        except ScopeViolation:
            session.rollback()
            abort(404)
        return True

    def _show_errors(self, form, errors):
        for field_name, message in errors.items():
            field = form._fields.get(field_name) or form._fields.get(field_name.removesuffix("_id"))
            if field is not None:
                field.errors = list(field.errors or []) + [message]
            else:
                flash(message, "danger")
        flash(str(_("The record was not saved: correct the fields marked below.")), "danger")

    def _add(self):
        form = self.add_form.refresh()
        if request.method == "POST" and form.validate():
            item = self.datamodel.obj()
            if self._save(form, item, True):
                self.post_add(item)
                flash(str(self.add_row_message), "success")
                return None
        elif request.method == "GET":
            self.update_redirect()
        return self._get_add_widget(form=form, exclude_cols=[])

    def _edit(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        pk = self.datamodel.get_pk_value(item)
        if request.method == "POST":
            form = self.edit_form.refresh(request.form)
            form._id = pk
            seen = request.form.get("row_version")
            if seen and hasattr(item, "version") and seen.isdigit() and int(seen) != item.version:
                flash(str(STALE_MESSAGE), "danger")
                # formdata=None: show the stored values, not the stale posted ones
                form = self.edit_form(formdata=None, obj=item)
                form.row_version.data = item.version
            elif form.validate() and self._save(form, item, False):
                self.post_update(item)
                flash(str(self.edit_row_message), "success")
                return None
        else:
            form = self.edit_form.refresh(obj=item)
            if "row_version" in form:
                form.row_version.data = item.version
            self.prefill_form(form, pk)
            self.update_redirect()
        widgets = self._get_edit_widget(form=form, exclude_cols=[])
        return self._get_related_views_widgets(item, filters={}, orders={}, pages={}, page_sizes={},
                                               widgets=widgets)

    def _get_edit_widget(self, form, exclude_cols=None, widgets=None):
        return super()._get_edit_widget(form, list(exclude_cols or []) + ["row_version"], widgets)

    # --- search: what this user can narrow by ----------------------------------
    def _get_search_widget(self, form=None, exclude_cols=None, widgets=None):
        """FAB renders every search column's field on every list page; a
        directorate user has one directorate, so offering it as a filter is
        noise that costs a COUNT and a SELECT of the directorates per page."""
        widgets = widgets or {}
        include = list(self.search_columns)
        if current_scope().directorate_id is not None:
            filtered = {key.split("_", 3)[-1] for key in request.args if key.startswith("_flt_")}
            include = [c for c in include if c not in SCOPE_COLUMNS or c in filtered]
        widgets["search"] = self.search_widget(route_base=self.route_base, form=form, include_cols=include,
                                               exclude_cols=exclude_cols or [], filters=self._filters)
        return widgets

    # --- exports: exactly the list on screen -----------------------------------
    list_template = "sijill/list.html"

    def _list_query(self):
        """The list's own query: its search, filters and sort (the scope is
        the session's), without paging."""
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        order_column, order_direction = get_order_args().get(self.__class__.__name__, ("", ""))
        if not order_column and self.base_order:
            order_column, order_direction = self.base_order
        filters = self._filters.get_joined_filters(self._base_filters)
        query = self.datamodel.session.query(self.datamodel.obj)
        query = self.datamodel.apply_all(query, filters, order_column, order_direction)
        return query, filters, (order_column, order_direction)

    def _export(self, fmt):
        session, own = exports.reading_session(self.datamodel.session)
        query, filters, order = self._list_query()
        if own:
            query = query.with_session(session)
        keys, exprs, joins, fmts = exports.export_columns(self.datamodel.obj, self.list_columns,
                                                          self.formatters_columns or {})
        headers = [str(self.label_columns.get(k, k)) for k in keys]
        entity = self.datamodel.obj.__name__
        detail = {"format": fmt, "filters": [str(f) for f in filters.get_filters_values_tojson()],
                  "order": list(order)}

        def done(count):
            audit.record_event_now(db.engine, "export", entity=entity,
                                   detail=dict(detail, rows=count))
        name = f"{entity.lower()}-{datetime.date.today().isoformat()}"
        copy = exports.copy_statement(session, query, exprs, joins, fmts) if fmt == "csv" else None
        if copy is not None:
            return exports.copy_csv_response(name, headers, session.get_bind(), copy, done)
        rows = exports.rows_of(session, query, exprs, joins, fmts)
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

    # --- show page: workflow buttons and links ---------------------------------
    STEP_STYLE = {"submit": "btn-primary", "approve": "btn-success", "reject": "btn-warning",
                  "revoke": "btn-danger"}

    def render_template(self, template, **kwargs):
        if template == self.list_template:
            sm = self.appbuilder.sm
            if "can_export" in self.base_permissions and sm.has_access("can_export", self.class_permission_name):
                query = request.query_string.decode()
                kwargs["sijill_exports"] = [
                    {"url": url_for(f"{self.endpoint}.export_{fmt}") + (f"?{query}" if query else ""),
                     "label": label}
                    for fmt, label in (("csv", "CSV"), ("xlsx", "Excel"))]
        if template == self.show_template and "pk" in kwargs:
            item = self.datamodel.get(kwargs["pk"])
            kwargs.update(sijill_item=item, sijill_endpoint=self.endpoint,
                          sijill_steps=self.steps_for(item) if item is not None else [],
                          sijill_links=self.links_for(item) if item is not None else [])
        return super().render_template(template, **kwargs)

    def steps_for(self, item):
        """The workflow buttons this user may press on this record now."""
        if not hasattr(item, "status") or type(item).__name__ not in workflow.MODEL_ACTIONS:
            return []
        sm = self.appbuilder.sm
        return [
            {"name": step, "label": workflow.ACTION_LABELS[step], "css": self.STEP_STYLE[step],
             "needs_reason": workflow.TRANSITIONS[step][2]}
            for step in workflow.allowed_actions(item)
            if step in self.STEP_STYLE and sm.has_access(f"can_{step}", self.class_permission_name)
        ]

    def links_for(self, item):
        """Extra links on the show page (documents, history); screens extend it."""
        if self.appbuilder.sm.has_access("can_read", "AuditLog"):
            return [{"url": url_for("AuditLogView.history", entity=type(item).__name__, record_id=item.id),
                     "label": _("History"), "icon": "fa-history"}]
        return []

    # --- bulk actions: a refusal is a 403, not FAB's flash-and-redirect -------
    @expose("/action_post", methods=["POST"])
    def action_post(self):
        name = request.form.get("action", "")
        if name not in self.actions:
            abort(404)
        if not current_user.is_authenticated:
            return redirect(url_for(self.appbuilder.sm.auth_view.__class__.__name__ + ".login"))
        if not self.appbuilder.sm.has_access(self.get_action_permission_name(name), self.class_permission_name):
            abort(403)
        return super().action_post()

    # --- workflow -------------------------------------------------------------
    @expose("/step/<int:pk>/<string:step>", methods=["POST"])
    @has_access
    def step(self, pk, step):
        """submit / approve / reject / revoke one record (checked per verb)."""
        if step not in ("submit", "approve", "reject", "revoke"):
            abort(404)
        if not self.appbuilder.sm.has_access(f"can_{step}", self.class_permission_name):
            abort(403)
        item = self.datamodel.get(pk)
        if item is None:
            abort(404)
        session = self.datamodel.session
        try:
            workflow.apply(session, item, step, user=g.user, reason=request.form.get("reason"))
            session.commit()
            flash(str(_("Done: %(action)s.", action=workflow.ACTION_LABELS[step])), "success")
        except RuleViolation as exc:
            session.rollback()
            for message in exc.errors.values():
                flash(message, "danger")
        except SQLAlchemyError:
            session.rollback()
            flash(str(_("The step could not be saved; nothing was changed. Try again.")), "danger")
        return redirect(url_for(f"{self.endpoint}.show", pk=pk))



class BulkSubmit:
    """A list action for workflow screens: submit the selected drafts.
    Rows come from FAB's ``datamodel.get`` and so through the scope: an id of
    another directorate's row loads as nothing and is skipped."""

    @action("submit_selected", _("Submit selected"), _("Submit the selected records for approval?"),
            "fa-paper-plane", multiple=True, single=False)
    def submit_selected(self, items):
        items = items if isinstance(items, list) else [items]
        session = self.datamodel.session
        done = 0
        for item in items:
            if item is None or "submit" not in workflow.allowed_actions(item):
                continue
            try:
                with session.begin_nested():
                    workflow.apply(session, item, "submit", user=g.user)
                done += 1
            except RuleViolation as exc:
                flash(f"{item}: " + "; ".join(exc.errors.values()), "warning")
        session.commit()
        flash(str(_("%(count)s record(s) submitted.", count=done)), "success" if done else "warning")
        return redirect(self.get_redirect())
