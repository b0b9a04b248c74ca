"""The map of Sijill's screens: one class per screen, then the menu.

Behaviour shared by every screen (labels from the model, rules on save, soft
delete, stale-edit refusal, workflow steps, pickers) is in ``app.crud``; the
directorate scope is in the session (``app.scope``), so no screen filters by
hand.
"""
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_babel import lazy_gettext as _
from sqlalchemy import select
from wtforms import SelectField

from flask import abort, flash, redirect, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access

from .countries import country_choices, country_name
from .crud import BulkSubmit, SijillInterface, SijillModelView
from .exports import Labels
from .printing import Printable
from .extensions import appbuilder, db
from .models import (
    CERTIFICATE_KINDS, GENDER_LABELS, STATUS_LABELS, AuditLog, RuleViolation, Certificate, Citizen, Directorate,
    Establishment, Occupation, Permit, SkillLevel, SkillTest,
)
from .scope import current_scope
from .security import METHOD_VERBS, DirectorateUserView


def _directorates_in_scope():
    scope = current_scope()
    query = select(Directorate).order_by(Directorate.code)
    if scope.directorate_id is not None:
        query = query.where(Directorate.id == scope.directorate_id)
    return db.session.scalars(query).all()


class DirectorateField(QuerySelectField):
    """Ministry users choose the directorate; a directorate user is offered
    only its own, and whatever is posted, the record lands there (the
    session enforces it too: ``app.scope``)."""

    def pre_validate(self, form):
        scope = current_scope()
        if scope.directorate_id is not None:
            self.data = db.session.get(Directorate, scope.directorate_id)
            return
        super().pre_validate(form)


def directorate_field():
    return DirectorateField(_("Directorate"), query_func=_directorates_in_scope, get_label=str,
                            get_pk_func=lambda d: d.id, allow_blank=False, widget=Select2Widget())


def choice_field(label, choices):
    return SelectField(label, choices=list(choices.items()), widget=Select2Widget())


# Labels: the list shows the label, and the export can hand the mapping to SQL.
STATUS = {"status": Labels(STATUS_LABELS)}
GENDER = {"gender": Labels(GENDER_LABELS)}


# --- Reference data ---------------------------------------------------------------
class DirectorateView(SijillModelView):
    datamodel = SijillInterface(Directorate)
    class_permission_name = "Directorate"
    list_columns = ["code", "name_ar", "name_en"]
    add_columns = edit_columns = show_columns = ["code", "name_ar", "name_en"]
    search_columns = ["code", "name_ar", "name_en"]
    base_order = ("code", "asc")


class SkillLevelView(SijillModelView):
    datamodel = SijillInterface(SkillLevel)
    class_permission_name = "SkillLevel"
    list_columns = add_columns = edit_columns = show_columns = ["rank", "name_ar", "name_en"]
    base_order = ("rank", "asc")


class OccupationView(SijillModelView):
    datamodel = SijillInterface(Occupation)
    class_permission_name = "Occupation"
    list_columns = ["code", "title_ar", "title_en", "level_label", "skill_level", "active"]
    show_columns = ["code", "title_ar", "title_en", "level_label", "parent", "skill_level", "active"]
    add_columns = edit_columns = ["parent", "code", "title_ar", "title_en", "active"]
    search_columns = ["code", "title_ar", "title_en", "level", "active"]
    label_columns = {"level_label": _("Level")}
    pickers = {"parent": "unitgroup"}
    base_order = ("code", "asc")

    def pre_add(self, item):
        item.level = 5  # admins add national occupations; ISCO groups are loaded as data


# --- Registers ----------------------------------------------------------------------
class CertificateView(Printable, BulkSubmit, SijillModelView):
    datamodel = SijillInterface(Certificate)
    class_permission_name = "Certificate"
    list_columns = ["serial", "kind", "citizen", "occupation", "status", "issue_date", "expiry_date",
                    "directorate"]
    show_columns = ["serial", "kind", "status", "citizen", "occupation", "skill_level", "experience_years",
                    "fee", "issue_date", "expiry_date", "directorate", "reason", "submitted_by",
                    "submitted_at", "decided_by", "decided_at", "created_by", "created_at"]
    add_columns = ["kind", "citizen", "occupation", "skill_level", "experience_years", "fee"]
    edit_columns = ["citizen", "occupation", "skill_level", "experience_years", "fee"]
    search_columns = ["serial", "kind", "status", "issue_date", "expiry_date", "directorate"]
    formatters_columns = {**STATUS, "kind": Labels(CERTIFICATE_KINDS)}
    add_form_extra_fields = {"kind": choice_field(_("Type"), CERTIFICATE_KINDS)}
    pickers = {"citizen": "citizen", "occupation": "occupation"}


class SkillTestView(Printable, BulkSubmit, SijillModelView):
    datamodel = SijillInterface(SkillTest)
    class_permission_name = "SkillTest"
    list_columns = ["citizen", "occupation", "skill_level", "test_date", "theory_score", "practical_score",
                    "result_label", "status"]
    show_columns = ["citizen", "occupation", "skill_level", "test_date", "theory_score", "practical_score",
                    "result_label", "fee_exempt", "exemption_reason", "status", "reason", "certificate",
                    "directorate", "submitted_by", "submitted_at", "decided_by", "decided_at"]
    add_columns = edit_columns = ["citizen", "occupation", "skill_level", "test_date", "theory_score",
                                  "practical_score", "fee_exempt", "exemption_reason"]
    search_columns = ["test_date", "status", "result", "skill_level", "directorate"]
    label_columns = {"result_label": _("Result")}
    formatters_columns = STATUS
    pickers = {"citizen": "citizen", "occupation": "occupation"}


class PermitView(Printable, BulkSubmit, SijillModelView):
    datamodel = SijillInterface(Permit)
    class_permission_name = "Permit"
    list_columns = ["serial", "worker_name", "nationality", "establishment", "occupation", "start_date",
                    "end_date", "status"]
    show_columns = ["serial", "kind", "renews", "status", "worker_name", "passport_number", "nationality",
                    "birth_date", "gender", "establishment", "occupation", "start_date", "end_date",
                    "issue_date", "quota_exception", "exception_reason", "security_cleared",
                    "docs_commercial_register", "docs_tax_card", "docs_passport", "docs_medical",
                    "docs_photos", "reason", "directorate", "submitted_by", "decided_by", "decided_at"]
    add_columns = edit_columns = [
        "kind", "renews", "worker_name", "passport_number", "nationality", "birth_date", "gender",
        "establishment", "occupation", "start_date", "end_date", "quota_exception", "exception_reason",
        "security_cleared", "docs_commercial_register", "docs_tax_card", "docs_passport", "docs_medical",
        "docs_photos"]
    search_columns = ["serial", "passport_number", "worker_name", "nationality", "status", "end_date",
                      "directorate"]
    formatters_columns = {**STATUS, **GENDER, "kind": Labels(Permit.KIND_LABELS),
                          "nationality": country_name}
    add_form_extra_fields = edit_form_extra_fields = {
        "kind": choice_field(_("Kind"), Permit.KIND_LABELS),
        "gender": choice_field(_("Gender"), GENDER_LABELS),
        "nationality": SelectField(_("Nationality"), choices=country_choices("ar"), widget=Select2Widget()),
    }
    pickers = {"establishment": "establishment", "occupation": "occupation", "renews": "permit"}
    picker_optional = ("renews",)


class CitizenView(SijillModelView):
    datamodel = SijillInterface(Citizen)
    class_permission_name = "Citizen"
    list_columns = ["national_id", "full_name", "gender", "birth_date", "directorate", "created_at"]
    show_columns = ["national_id", "full_name", "latin_name", "birth_date", "gender",
                    "birth_governorate_label", "national_id_warning", "mobile", "address", "qualification",
                    "directorate", "created_by", "created_at", "changed_at"]
    add_columns = ["national_id", "full_name", "latin_name", "mobile", "address", "qualification",
                   "directorate"]
    edit_columns = ["full_name", "latin_name", "mobile", "address", "qualification"]
    search_columns = ["national_id", "full_name", "gender", "directorate"]
    label_columns = {"birth_governorate_label": _("Governorate of birth")}
    formatters_columns = GENDER
    add_form_extra_fields = {"directorate": directorate_field()}
    description_columns = {"national_id": _("14 digits; birth date, gender and governorate of birth "
                                            "are read from it.")}
    related_views = [CertificateView, SkillTestView]
    add_template = "sijill/citizen_add.html"


class EstablishmentView(SijillModelView):
    datamodel = SijillInterface(Establishment)
    class_permission_name = "Establishment"
    list_columns = ["name", "commercial_register", "tax_number", "egyptian_workers", "directorate"]
    show_columns = ["name", "commercial_register", "tax_number", "address", "egyptian_workers",
                    "directorate", "created_at"]
    add_columns = ["name", "commercial_register", "tax_number", "address", "egyptian_workers", "directorate"]
    edit_columns = ["name", "tax_number", "address", "egyptian_workers"]
    search_columns = ["name", "commercial_register", "directorate"]
    add_form_extra_fields = {"directorate": directorate_field()}
    related_views = [PermitView]


# The audit trail stores codes (action, model name); people read these words.
AUDIT_ACTION_LABELS = {
    "create": _("Created"), "update": _("Changed"), "delete": _("Deleted"), "restore": _("Restored"),
    "login": _("Signed in"), "login_failed": _("Failed sign-in"), "denied": _("Access refused"),
    "export": _("Exported"), "print": _("Printed"), "reprint": _("Reprinted"),
    "print_preview": _("Printed a preview"), "submit": _("Submitted"), "approve": _("Approved"),
    "reject": _("Rejected"), "revoke": _("Revoked"), "expire": _("Expired"), "compile": _("Statistics compiled"),
}
AUDIT_ENTITY_LABELS = {
    "Citizen": _("Citizen"), "Establishment": _("Establishment"), "Certificate": _("Certificate"),
    "SkillTest": _("Skill test"), "Permit": _("Foreign work permit"), "SijillUser": _("User"),
    "Directorate": _("Directorate"), "Occupation": _("Occupation"), "SkillLevel": _("Skill level"),
    "StatMonth": _("Monthly statistics"),
}


class AuditLogView(SijillModelView):
    datamodel = SijillInterface(AuditLog)
    class_permission_name = "AuditLog"
    base_permissions = ["can_read"]
    formatters_columns = {"action": Labels(AUDIT_ACTION_LABELS), "entity": Labels(AUDIT_ENTITY_LABELS)}
    list_columns = ["at", "username", "action", "entity", "record_id", "directorate", "ip"]
    show_columns = ["at", "username", "ip", "action", "entity", "record_id", "directorate", "changes",
                    "detail"]
    search_columns = ["username", "action", "entity", "record_id", "at", "directorate"]
    base_order = ("id", "desc")

    @expose("/history/<entity>/<int:record_id>")
    @has_access
    def history(self, entity, record_id):
        """The trail of one record: this list filtered on entity and id."""
        args = {}
        for column, value in (("entity", entity), ("record_id", record_id)):
            kinds = [type(flt).__name__ for flt in self._filters.get_search_filters()[column]]
            args[f"_flt_{kinds.index('FilterEqual')}_{column}"] = value
        return redirect(url_for("AuditLogView.list", **args))


class DeletedRecordsView(BaseView):
    """Soft-deleted records (ministry admins): who deleted what and why, and restore."""

    route_base = "/deleted"
    class_permission_name = "DeletedRecords"
    method_permission_name = METHOD_VERBS
    default_view = "index"
    MODELS = {m.__name__: m for m in (Citizen, Establishment, Certificate, SkillTest, Permit)}

    @expose("/")
    @has_access
    def index(self):
        rows = []
        for name, model in self.MODELS.items():
            query = (select(model).where(model.deleted_at.is_not(None)).order_by(model.deleted_at.desc())
                     .limit(200).execution_options(sijill_include_deleted=True))
            rows += [(name, obj) for obj in db.session.scalars(query)]
        rows.sort(key=lambda r: r[1].deleted_at, reverse=True)
        return self.render_template("sijill/deleted.html", rows=rows)

    @expose("/restore/<entity>/<int:pk>", methods=["POST"])
    @has_access
    def restore(self, entity, pk):
        model = self.MODELS.get(entity)
        if model is None:
            abort(404)
        obj = db.session.scalar(select(model).where(model.id == pk, model.deleted_at.is_not(None))
                                .execution_options(sijill_include_deleted=True))
        if obj is None:
            abort(404)
        obj.deleted_at = obj.deleted_by_id = obj.delete_reason = None
        try:
            db.session.commit()
            flash(str(_("Restored: %(record)s", record=str(obj))), "success")
        except RuleViolation as exc:  # e.g. its national ID was registered again meanwhile
            db.session.rollback()
            flash("; ".join(exc.errors.values()), "danger")
        return redirect(url_for("DeletedRecordsView.index"))


# --- Menu -------------------------------------------------------------------------
REGISTERS, SERVICES, REFERENCE, OVERSIGHT = (
    _("Registers"), _("Services"), _("Reference data"), _("Oversight"))

appbuilder.add_view(CitizenView, "Citizens", label=_("Citizens"), icon="fa-id-card",
                    category="Registers", category_label=REGISTERS, category_icon="fa-book")
appbuilder.add_view(EstablishmentView, "Establishments", label=_("Establishments"), icon="fa-building",
                    category="Registers")
appbuilder.add_view(CertificateView, "Certificates", label=_("Certificates and cards"), icon="fa-certificate",
                    category="Services", category_label=SERVICES, category_icon="fa-briefcase")
appbuilder.add_view(SkillTestView, "SkillTests", label=_("Skill tests"), icon="fa-wrench",
                    category="Services")
appbuilder.add_view(PermitView, "Permits", label=_("Foreign work permits"), icon="fa-passport",
                    category="Services")
appbuilder.add_view(OccupationView, "Occupations", label=_("Occupations"), icon="fa-sitemap",
                    category="Reference", category_label=REFERENCE, category_icon="fa-database")
appbuilder.add_view(SkillLevelView, "SkillLevels", label=_("Skill levels"), icon="fa-signal",
                    category="Reference")
appbuilder.add_view(DirectorateView, "Directorates", label=_("Directorates"), icon="fa-map-marker",
                    category="Reference")
appbuilder.add_view(DirectorateUserView, "DirectorateUsers", label=_("Directorate staff"), icon="fa-users",
                    category="Oversight", category_label=OVERSIGHT, category_icon="fa-eye")
appbuilder.add_view(AuditLogView, "AuditLog", label=_("Audit trail"), icon="fa-history",
                    category="Oversight")
appbuilder.add_view(DeletedRecordsView, "DeletedRecords", label=_("Deleted records"), icon="fa-trash-restore",
                    category="Oversight")
# Statistics, expiry and the jobs' history (app/dashboard.py)
from .dashboard import ExpiringView, JobRunView, StatisticsView  # noqa: E402

appbuilder.add_view(StatisticsView, "Statistics", label=_("Statistics dashboard"), icon="fa-chart-bar",
                    category="Oversight")
appbuilder.add_view(ExpiringView, "Expiring", label=_("Expiring soon"), icon="fa-hourglass-end",
                    category="Oversight")
appbuilder.add_view(JobRunView, "JobRuns", label=_("Scheduled jobs"), icon="fa-clock", category="Oversight")
# Imports of the paper and spreadsheet registers (app/import_views.py)
from .import_views import ImportView, OccupationReviewView  # noqa: E402

appbuilder.add_view(ImportView, "Import", label=_("Import registers"), icon="fa-file-import",
                    category="Oversight")
appbuilder.add_view(OccupationReviewView, "OccupationReview", label=_("Occupation names to review"),
                    icon="fa-tags", category="Oversight")
