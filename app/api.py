"""REST resources under /api/v1/, one per model, named in the singular.

They share the web screens' rules and scope by construction (the session
enforces both); this base only turns a broken rule into a JSON answer with a
stable code and the Arabic and English messages instead of FAB's 500.
"""
from flask_appbuilder import ModelRestApi
from sqlalchemy.exc import IntegrityError

from .crud import SijillInterface
from .extensions import appbuilder, db
from .models import Certificate, Citizen, Directorate, Establishment, Occupation, Permit, RuleViolation, \
    SkillLevel, SkillTest
from .scope import ScopeViolation
from .security import METHOD_VERBS, api_resource
from .web import record_denial


class SijillModelApi(ModelRestApi):
    method_permission_name = METHOD_VERBS
    page_size = 25

    def _guarded(self, call, *args):
        try:
            return call(*args)
        except RuleViolation as exc:
            db.session.rollback()
            return self.response(422, code="rule_violation", message=exc.errors)
        except IntegrityError:
            db.session.rollback()
            return self.response(409, code="conflict",
                                 message={"ar": "السجل يتعارض مع سجل موجود.", "en": "Conflicts with an existing record."})
        except ScopeViolation:
            db.session.rollback()
            return self.response_404()

    # Denials answered by FAB's API (no permission, row not in scope) are
    # recorded like the web's (app.web).
    def response_403(self, **kwargs):
        record_denial(403)
        return super().response_403(**kwargs)

    def response_404(self, **kwargs):
        record_denial(404)
        return super().response_404(**kwargs)

    def post_headless(self):
        return self._guarded(super().post_headless)

    def put_headless(self, pk):
        return self._guarded(super().put_headless, pk)

    def delete_headless(self, pk):
        return self._guarded(super().delete_headless, pk)


def resource(model, name, **attrs):
    """Declare the REST resource of a model: /api/v1/<name>/."""
    attrs = {"base_order": ("id", "desc"), **attrs}
    cls = type(f"{model.__name__}Api", (SijillModelApi,), dict(
        datamodel=SijillInterface(model), resource_name=name,
        class_permission_name=api_resource(model.__name__), **attrs))
    appbuilder.add_api(cls)
    return cls


_CASE = ("status", "reason", "submitted_at", "decided_at")
resource(Directorate, "directorate", base_order=("code", "asc"))
resource(SkillLevel, "skilllevel", base_order=("rank", "asc"))
resource(Occupation, "occupation", base_order=("code", "asc"),
         list_columns=["id", "code", "level", "title_ar", "title_en", "skill_level", "active"],
         add_columns=["code", "parent", "title_ar", "title_en", "active"],
         edit_columns=["title_ar", "title_en", "active"])
resource(Citizen, "citizen",
         list_columns=["id", "national_id", "full_name", "latin_name", "gender", "birth_date",
                       "birth_governorate", "directorate.id"],
         show_columns=["id", "national_id", "full_name", "latin_name", "mobile", "address", "qualification",
                       "gender", "birth_date", "birth_governorate", "directorate.id", "national_id_warning"],
         add_columns=["national_id", "full_name", "latin_name", "mobile", "address", "qualification",
                      "directorate"],
         edit_columns=["full_name", "latin_name", "mobile", "address", "qualification"],
         search_columns=["national_id", "full_name", "directorate"])
resource(Establishment, "establishment",
         list_columns=["id", "name", "commercial_register", "tax_number", "egyptian_workers", "directorate.id"],
         add_columns=["name", "commercial_register", "tax_number", "address", "egyptian_workers",
                      "directorate"],
         edit_columns=["name", "tax_number", "address", "egyptian_workers"])
resource(Certificate, "certificate",
         list_columns=["id", "serial", "kind", "citizen.id", "occupation.id", "skill_level.id", "issue_date",
                       "expiry_date", "directorate.id", *_CASE],
         add_columns=["kind", "citizen", "occupation", "skill_level", "experience_years", "fee"],
         edit_columns=["occupation", "skill_level", "experience_years", "fee"],
         search_columns=["serial", "kind", "status", "citizen"])
resource(SkillTest, "skilltest",
         list_columns=["id", "citizen.id", "occupation.id", "skill_level.id", "test_date", "theory_score",
                       "practical_score", "result", "directorate.id", *_CASE],
         add_columns=["citizen", "occupation", "skill_level", "test_date", "fee_exempt",
                      "exemption_reason"],
         edit_columns=["test_date", "theory_score", "practical_score", "fee_exempt", "exemption_reason"],
         search_columns=["status", "citizen"])
resource(Permit, "permit",
         list_columns=["id", "serial", "kind", "renews.id", "worker_name", "passport_number", "nationality",
                       "birth_date", "gender", "establishment.id", "occupation.id", "start_date", "end_date",
                       "directorate.id", *_CASE],
         add_columns=["kind", "renews", "worker_name", "passport_number", "nationality", "birth_date",
                      "gender", "establishment", "occupation", "start_date", "end_date",
                      "quota_exception", "exception_reason", "docs_commercial_register", "docs_tax_card",
                      "docs_passport", "docs_medical", "docs_photos"],
         edit_columns=["worker_name", "start_date", "end_date", "quota_exception", "exception_reason",
                       "security_cleared", "docs_commercial_register", "docs_tax_card", "docs_passport",
                       "docs_medical", "docs_photos"],
         search_columns=["serial", "status", "passport_number", "establishment"])
