"""REST resources under /api/v1/, one per model, named in the singular.

They share the web screens' rules and scope by construction (the session
enforces both); this base only turns a broken rule into a JSON answer with a
stable code and the Arabic and English messages instead of FAB's 500.
The portal's own operations (lookup, applications, verification) are in
``app.portal_api``; the error shape, in ``app.api_errors``.
"""
from flask import request
from flask_appbuilder import ModelRestApi
from sqlalchemy import inspect
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from . import api_spec, portal_api
from .api_errors import error, rule_details
from .crud import SijillInterface
from .extensions import appbuilder, db
from .models import Certificate, Citizen, Directorate, Establishment, Occupation, Permit, RuleViolation, \
    SkillLevel, SkillTest
from .scope import ScopeViolation, current_scope
from .security import METHOD_VERBS, api_resource
from .web import DenialsRecorded


MAX_PK = 2 ** 31 - 1  # PostgreSQL's integer


def valid_pk(pk):
    try:
        return 0 < int(pk) <= MAX_PK
    except (TypeError, ValueError):
        return False


class SijillModelApi(DenialsRecorded, ModelRestApi):
    method_permission_name = METHOD_VERBS
    page_size = 25

    def _guarded(self, call, *args, **kwargs):
        # (FAB's ``response(code, **kwargs)`` takes the status as ``code``: the
        # error body is built by api_errors.error, never through it.)
        try:
            return call(*args, **kwargs)
        except RuleViolation as exc:
            db.session.rollback()
            return error("rule_violation", rule_details(exc))
        except StaleDataError:
            db.session.rollback()
            return error("stale_record")
        except DataError:
            # PostgreSQL refused a value (a number out of its range, text for a
            # number in a filter): bad input, not a server error
            db.session.rollback()
            return error("validation_error", {"reason": "a value is out of range or of the wrong type"})
        except IntegrityError:
            db.session.rollback()
            return error("conflict")
        except ScopeViolation:
            db.session.rollback()
            return self.response_404()

    def _get_field_info(self, field, filter_rel_field, page=None, page_size=None):
        # FAB translates a missing description as _(""), which is the whole
        # header of the translation catalog: give an empty text instead.
        info = super()._get_field_info(field, filter_rel_field, page=page, page_size=page_size)
        if not self.description_columns.get(field.name):
            info["description"] = ""
        return info

    def _init_model_schemas(self):
        super()._init_model_schemas()
        # The scope sets a directorate user's directorate; FAB's schema would
        # demand the field from everyone (checked for ministry users above).
        field = self.add_model_schema.fields.get("directorate") if self.add_model_schema else None
        if field is not None:
            field.required = False

    def _refused_body(self, columns):
        """A body FAB's schema would mishandle, answered 422 before it loads:
        not an object, or a relation given as anything but a row id
        (marshmallow-sqlalchemy builds a *new* related row from a nested
        object — a citizen created through a certificate, outside every rule
        of the citizen form)."""
        if not request.is_json:
            return None  # FAB answers 400, reshaped by api_errors
        data = request.get_json(silent=True)
        if data is None:
            return error("malformed_json")
        if not isinstance(data, dict):
            return error("validation_error", {"fields": {"_schema": ["A JSON object is expected."]}})
        if "directorate" in columns and not data.get("directorate") and not current_scope().restricted:
            # a directorate user's row lands in its directorate (app.scope);
            # a ministry user names the directorate
            return error("validation_error", {"fields": {"directorate": ["Missing data for required field."]}})
        relations = {rel.key for rel in inspect(self.datamodel.obj).relationships}
        wrong = {name: ["A row id (integer) is expected."] for name in columns
                 if name in relations and name in data and data[name] is not None
                 and (isinstance(data[name], bool) or not isinstance(data[name], int))}
        return error("validation_error", {"fields": wrong}) if wrong else None

    # An id out of the database's integer range is a row that cannot exist:
    # 404, never the driver's overflow error (a 500).
    def get_headless(self, pk, **kwargs):
        return self._guarded(super().get_headless, pk, **kwargs) if valid_pk(pk) else self.response_404()

    def get_list_headless(self, **kwargs):
        return self._guarded(super().get_list_headless, **kwargs)

    def post_headless(self):
        return self._refused_body(self.add_columns) or self._guarded(super().post_headless)

    def put_headless(self, pk):
        if not valid_pk(pk):
            return self.response_404()
        return self._refused_body(self.edit_columns) or self._guarded(super().put_headless, pk)

    def delete_headless(self, pk):
        return self._guarded(super().delete_headless, pk) if valid_pk(pk) else self.response_404()


def resource(model, name, mixins=(), **attrs):
    """Declare the REST resource of a model: /api/v1/<name>/."""
    attrs = {"base_order": ("id", "desc"), **attrs}
    cls = type(f"{model.__name__}Api", (*mixins, SijillModelApi), dict(
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
resource(Citizen, "citizen", mixins=(portal_api.CitizenLookup,),
         openapi_spec_component_schemas=(portal_api.CitizenLookupSchema,),
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
portal_api.register()
api_spec.register(appbuilder)
