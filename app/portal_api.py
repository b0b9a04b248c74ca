"""The national portal's operations, on top of the model resources:

* ``GET  /api/v1/citizen/lookup/<national_id>`` — is this citizen registered,
  and where (a masked name, never the record);
* ``POST /api/v1/application/`` — submit a registration certificate, a
  skill-test booking, a craft licence or a permit renewal. It is built with
  the same models and rules as the screens (``app.rules``), lands in the
  directorate of its holder (the citizen's, or the renewed permit's
  establishment's) and is submitted through ``app.workflow``, so it waits in
  that directorate's queue for a manager. ``Idempotency-Key`` makes retries safe;
* ``GET  /api/v1/application/<reference>`` — its status, and the reason of a
  rejection or revocation;
* ``GET  /api/v1/verification/<serial>`` — is a document valid, expired or
  revoked (no personal data).

Every read goes through the session's directorate scope (``app.scope``); a
directorate user reaches the same endpoints within its directorate. A client
without read access to the model's own resource (the portal account) sees
only the applications it submitted itself.
"""
import datetime

from flask import g, request
from flask_appbuilder.api import BaseApi, expose, protect, safe
from flask_babel import lazy_gettext as _
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from . import idempotency, workflow
from .api_errors import both, error, rule_details
from .extensions import appbuilder, db
from .models import (
    CERTIFICATE_KINDS, CRAFT, EXPIRED, ISSUED, REGISTRATION, REVOKED, STATUS_LABELS, Certificate, Citizen,
    Directorate, Occupation, Permit, RuleViolation, SkillLevel, SkillTest,
)
from .national_id import parse_national_id
from .scope import ScopeViolation, unscoped
from .security import api_resource
from .web import DenialsRecorded

PORTAL = "portal"
# application type: (reference prefix, model, certificate kind)
TYPES = {
    "registration": ("REG", Certificate, REGISTRATION),
    "craft_licence": ("CRF", Certificate, CRAFT),
    "skill_test": ("SKT", SkillTest, None),
    "permit_renewal": ("PRM", Permit, None),
}
PREFIXES = {prefix: (name, model, kind) for name, (prefix, model, kind) in TYPES.items()}
TYPE_LABELS = {"registration": CERTIFICATE_KINDS[REGISTRATION], "craft_licence": CERTIFICATE_KINDS[CRAFT],
               "skill_test": _("Skill-level test"), "permit_renewal": _("Work permit renewal")}


# --- schemas (validation and the OpenAPI description) ---------------------------
class BilingualSchema(Schema):
    ar = fields.String(required=True)
    en = fields.String(required=True)


class DirectorateRefSchema(Schema):
    code = fields.String(required=True)
    name_ar = fields.String(required=True)
    name_en = fields.String(required=True)


class NewCitizenSchema(Schema):
    full_name = fields.String(required=True, validate=validate.Length(max=200))
    latin_name = fields.String(validate=validate.Length(max=200), allow_none=True)
    mobile = fields.String(validate=validate.Length(max=20), allow_none=True)
    address = fields.String(validate=validate.Length(max=500), allow_none=True)
    qualification = fields.String(validate=validate.Length(max=200), allow_none=True)
    governorate = fields.String(validate=validate.Length(equal=2), allow_none=True,
                                metadata={"description": "Governorate of residence (its code); "
                                                         "default: the governorate of birth"})


class DocumentsSchema(Schema):
    commercial_register = fields.Boolean()
    tax_card = fields.Boolean()
    passport = fields.Boolean()
    medical = fields.Boolean()
    photos = fields.Boolean()


class ApplicationRequestSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(list(TYPES)))
    national_id = fields.String(validate=validate.Length(max=30),
                                metadata={"description": "registration, skill_test, craft_licence"})
    occupation = fields.String(validate=validate.Length(max=12),
                               metadata={"description": "occupation code (unit group or national)"})
    experience_years = fields.Integer(allow_none=True, validate=validate.Range(min=-1000, max=1000))
    skill_level = fields.Integer(validate=validate.Range(min=-1000, max=1000),
                                 metadata={"description": "skill_test: rank of the level tested"})
    test_date = fields.Date(metadata={"description": "skill_test: the date asked for"})
    fee_exempt = fields.Boolean()
    exemption_reason = fields.String(validate=validate.Length(max=200), allow_none=True)
    citizen = fields.Nested(NewCitizenSchema, allow_none=True,
                            metadata={"description": "registration: the citizen, when not registered yet"})
    permit_serial = fields.String(validate=validate.Length(max=32),
                                  metadata={"description": "permit_renewal: serial of the permit renewed"})
    start_date = fields.Date(allow_none=True)
    end_date = fields.Date(allow_none=True)
    documents = fields.Nested(DocumentsSchema, allow_none=True)


class ApplicationStatusSchema(Schema):
    reference = fields.String(required=True)
    type = fields.String(required=True)
    type_label = fields.Nested(BilingualSchema, required=True)
    status = fields.String(required=True)
    status_label = fields.Nested(BilingualSchema, required=True)
    reason = fields.String(allow_none=True)
    submitted_at = fields.String(allow_none=True)
    decided_at = fields.String(allow_none=True)
    serial = fields.String(allow_none=True)
    directorate = fields.Nested(DirectorateRefSchema, required=True)


class CitizenLookupSchema(Schema):
    national_id = fields.String(required=True)
    registered = fields.Boolean(required=True)
    masked_name = fields.String(required=True)
    directorate = fields.Nested(DirectorateRefSchema, required=True)


class VerificationSchema(Schema):
    serial = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["valid", "expired", "revoked", "not_found"]))
    document_type = fields.Nested(BilingualSchema, allow_none=True)
    issue_date = fields.String(allow_none=True)
    expiry_date = fields.String(allow_none=True)
    directorate = fields.Nested(DirectorateRefSchema, allow_none=True)


_REQUEST = ApplicationRequestSchema()


# --- helpers ----------------------------------------------------------------------
def directorate_ref(directorate):
    return {"code": directorate.code, "name_ar": directorate.name_ar, "name_en": directorate.name_en}


def mask(name):
    """"محمد أحمد علي" -> "محمد أ*** ع***": enough to confirm, not to learn."""
    words = (name or "").split()
    return " ".join([words[0]] + [w[0] + "***" for w in words[1:]]) if words else ""


def type_of(obj):
    if isinstance(obj, Certificate):
        return "craft_licence" if obj.kind == CRAFT else "registration"
    return "skill_test" if isinstance(obj, SkillTest) else "permit_renewal"


def status_body(obj):
    kind = type_of(obj)
    directorate = obj.directorate or db.session.get(Directorate, obj.directorate_id)
    serial = obj.certificate.serial if isinstance(obj, SkillTest) and obj.certificate else getattr(obj, "serial", None)
    return {
        "reference": f"{TYPES[kind][0]}-{obj.id}", "type": kind, "type_label": both(TYPE_LABELS[kind]),
        "status": obj.status, "status_label": both(STATUS_LABELS.get(obj.status, obj.status)),
        "reason": obj.reason, "serial": serial,
        "submitted_at": obj.submitted_at.isoformat() if obj.submitted_at else None,
        "decided_at": obj.decided_at.isoformat() if obj.decided_at else None,
        "directorate": directorate_ref(directorate),
    }


class Invalid(Exception):
    """Bad input found before any write: answered 422 with field messages."""

    def __init__(self, field, message):
        self.fields = {field: both(message)}


def _national_id(value):
    from flask import current_app
    try:
        return parse_national_id(value or "", current_app.config.get("NATIONAL_ID_STRICT_CHECKSUM", False))
    except ValueError as exc:
        raise InvalidNationalId(str(exc)) from None


class InvalidNationalId(Exception):
    pass


def _occupation(code):
    occ = db.session.scalar(select(Occupation).where(Occupation.code == (code or "").strip()))
    if occ is None:
        raise Invalid("occupation", _("No occupation has this code."))
    return occ


def _citizen(data, create=False):
    if not data.get("national_id"):
        raise Invalid("national_id", _("The national ID is required."))
    parsed = _national_id(data["national_id"])
    # scoped: a directorate user finds only its own citizens
    citizen = db.session.scalar(select(Citizen).where(Citizen.national_id == parsed.number))
    if citizen is not None:
        return citizen
    details = data.get("citizen")
    if not create or not details:
        raise Invalid("national_id", _("No registered citizen has this national ID; a registration "
                                       "application can register them (give the citizen's details)."))
    code = details.get("governorate") or parsed.governorate_code
    directorate = db.session.scalar(select(Directorate).where(Directorate.code == code))
    if directorate is None:
        raise Invalid("citizen.governorate", _("Give the governorate of residence (its two-digit code)."))
    citizen = Citizen(national_id=parsed.number, directorate=directorate, created_by_id=g.user.id,
                      **{k: details.get(k) for k in ("full_name", "latin_name", "mobile", "address",
                                                     "qualification")})
    db.session.add(citizen)
    return citizen


def build(data):
    """The new record of an application (not yet flushed)."""
    kind = data["type"]
    if kind in ("registration", "craft_licence"):
        citizen = _citizen(data, create=kind == "registration")
        return Certificate(kind=TYPES[kind][2], citizen=citizen, occupation=_occupation(data.get("occupation")),
                           directorate_id=citizen.directorate_id, experience_years=data.get("experience_years"),
                           channel=PORTAL, created_by_id=g.user.id)
    if kind == "skill_test":
        citizen = _citizen(data)
        level = db.session.scalar(select(SkillLevel).where(SkillLevel.rank == data.get("skill_level")))
        if level is None:
            raise Invalid("skill_level", _("Choose the level tested (its rank)."))
        test_date = data.get("test_date")
        if test_date is None or test_date < datetime.date.today():
            raise Invalid("test_date", _("Ask for a test date from today on."))
        return SkillTest(citizen=citizen, occupation=_occupation(data.get("occupation")), skill_level=level,
                         test_date=test_date, fee_exempt=bool(data.get("fee_exempt")),
                         exemption_reason=data.get("exemption_reason"), directorate_id=citizen.directorate_id,
                         channel=PORTAL, created_by_id=g.user.id)
    return _renewal(data)


def _renewal(data):
    serial = (data.get("permit_serial") or "").strip()
    old = db.session.scalar(select(Permit).where(Permit.serial == serial)) if serial else None
    if old is None:
        raise Invalid("permit_serial", _("No work permit has this serial."))
    if old.status not in (ISSUED, EXPIRED):
        raise Invalid("permit_serial", _("Only an issued or expired permit can be renewed."))
    start = data.get("start_date") or old.end_date + datetime.timedelta(days=1)
    end = data.get("end_date") or start + datetime.timedelta(days=364)
    docs = data.get("documents") or {}
    return Permit(kind="renewal", renews=old, worker_name=old.worker_name, passport_number=old.passport_number,
                  nationality=old.nationality, birth_date=old.birth_date, gender=old.gender,
                  establishment_id=old.establishment_id, occupation_id=old.occupation_id,
                  directorate_id=old.directorate_id, start_date=start, end_date=end, channel=PORTAL,
                  created_by_id=g.user.id,
                  **{f"docs_{name}": bool(docs.get(name)) for name in DocumentsSchema._declared_fields})


def json_body():
    """The request's JSON object, or an error response."""
    if not request.is_json:
        return None, error("unsupported_media_type")
    data = request.get_json(silent=True)
    if data is None:
        return None, error("malformed_json")
    if not isinstance(data, dict):
        return None, error("validation_error", {"fields": {"_schema": ["A JSON object is expected."]}})
    return data, None


class PortalBaseApi(DenialsRecorded, BaseApi):
    """Refusals recorded in the audit trail like the model resources'."""


class ApplicationApi(PortalBaseApi):
    resource_name = "application"
    class_permission_name = api_resource("Application")
    method_permission_name = {"submit_application": "write", "application_status": "read"}
    openapi_spec_tag = "Application"
    openapi_spec_component_schemas = (ApplicationRequestSchema, ApplicationStatusSchema)

    @expose("/", methods=["POST"])
    @protect()
    @safe
    def submit_application(self):
        """Submit an application on a citizen's behalf.
        ---
        post:
          summary: Submit an application; it lands as submitted in the queue of its directorate
          parameters:
          - in: header
            name: Idempotency-Key
            required: false
            schema:
              type: string
              minLength: 1
              maxLength: 200
            description: a retry with the same key and body creates nothing new and gets the same answer
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/ApplicationRequest'
          responses:
            201:
              description: The application, submitted
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/ApplicationStatus'
        """
        key, bad = idempotency.key_from_request()
        if bad is not None:
            return bad
        data, bad = json_body()
        if bad is not None:
            return bad
        try:
            data = _REQUEST.load(data)
        except ValidationError as exc:
            return error("validation_error", {"fields": exc.messages})
        session = db.session

        def create():
            obj = build(data)
            session.add(obj)
            session.flush()  # the model rules run here (app.rules)
            workflow.apply(session, obj, "submit", user=g.user)
            return 201, status_body(obj)
        try:
            return idempotency.run(session, key, create)
        except Invalid as exc:
            return error("validation_error", {"fields": exc.fields})
        except InvalidNationalId as exc:
            return error("validation_error", {"fields": {"national_id": {"ar": str(exc), "en": str(
                both(_("Not a valid Egyptian national ID."))["en"])}}})
        except RuleViolation as exc:
            return error("rule_violation", rule_details(exc))
        except ScopeViolation:
            return self.response_404()
        except (IntegrityError, StaleDataError):
            return error("conflict")

    @expose("/<reference>", methods=["GET"])
    @protect()
    @safe
    def application_status(self, reference):
        """Status of an application, with the reason of a rejection or revocation.
        ---
        get:
          summary: Status of an application by its reference (e.g. REG-123)
          parameters:
          - in: path
            name: reference
            required: true
            schema:
              type: string
          responses:
            200:
              description: The application's status
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/ApplicationStatus'
        """
        prefix, _sep, number = reference.upper().partition("-")
        if prefix not in PREFIXES or not (number.isascii() and number.isdigit()) or not 0 < int(number) <= 2 ** 31 - 1:
            return self.response_404()
        kind, model, cert_kind = PREFIXES[prefix]
        query = select(model).where(model.id == int(number))
        if cert_kind:
            query = query.where(model.kind == cert_kind)
        if not appbuilder.sm.has_access("can_read", api_resource(model.__name__)):
            # the portal: its own applications only
            query = query.where(model.created_by_id == g.user.id)
        obj = db.session.scalar(query)  # and the directorate scope
        if obj is None:
            return self.response_404()
        return self.response(200, **status_body(obj))


class VerificationApi(PortalBaseApi):
    resource_name = "verification"
    class_permission_name = api_resource("Verification")
    method_permission_name = {"verify": "read"}
    openapi_spec_tag = "Verification"
    openapi_spec_component_schemas = (VerificationSchema,)

    @expose("/<serial>", methods=["GET"])
    @protect()
    @safe
    def verify(self, serial):
        """Verify a document by its serial: no personal data.
        ---
        get:
          summary: Is the document with this serial valid, expired or revoked?
          parameters:
          - in: path
            name: serial
            required: true
            schema:
              type: string
          responses:
            200:
              description: The status of the document (not_found when no document has this serial)
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/Verification'
        """
        serial = serial.strip().upper()[:40]
        today = datetime.date.today()
        # Verification is public information (access.md): every directorate's documents.
        with unscoped():
            doc = db.session.scalar(select(Certificate).where(Certificate.serial == serial)) or \
                db.session.scalar(select(Permit).where(Permit.serial == serial))
            if doc is None or doc.status not in (ISSUED, EXPIRED, REVOKED):
                return self.response(200, serial=serial, status="not_found", document_type=None,
                                     issue_date=None, expiry_date=None, directorate=None)
            if doc.status == REVOKED:
                status = "revoked"
            else:
                status = "valid" if doc.is_valid_on(today) else "expired"
            label = doc.kind_label() if isinstance(doc, Certificate) else _("Work permit for foreigners")
            end = doc.expiry_date if isinstance(doc, Certificate) else doc.end_date
            return self.response(200, serial=serial, status=status, document_type=both(label),
                                 issue_date=doc.issue_date.isoformat() if doc.issue_date else None,
                                 expiry_date=end.isoformat() if end else None,
                                 directorate=directorate_ref(doc.directorate))


class CitizenLookup:
    """Mixed into the citizen resource: /api/v1/citizen/lookup/<national_id>."""

    @expose("/lookup/<national_id>", methods=["GET"])
    @protect()
    @safe
    def lookup(self, national_id):
        """Is a citizen registered, and in which directorate (minimal data)?
        ---
        get:
          summary: Look up a citizen by national ID
          parameters:
          - in: path
            name: national_id
            required: true
            schema:
              type: string
          responses:
            200:
              description: The citizen is registered
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/CitizenLookup'
        """
        try:
            parsed = _national_id(national_id)
        except InvalidNationalId as exc:
            return error("validation_error", {"fields": {"national_id": {
                "ar": str(exc), "en": both(_("Not a valid Egyptian national ID."))["en"]}}})
        citizen = db.session.scalar(select(Citizen).where(Citizen.national_id == parsed.number))
        if citizen is None:
            return self.response_404()
        return self.response(200, national_id=citizen.national_id, registered=True,
                             masked_name=mask(citizen.full_name), directorate=directorate_ref(citizen.directorate))


def register():
    appbuilder.add_api(ApplicationApi)
    appbuilder.add_api(VerificationApi)
