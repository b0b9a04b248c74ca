"""The REST API as the national portal and the directorates use it:
JWT and API-key login, citizen lookup, applications that land submitted in
the right directorate's queue, their status after a manager's decision,
verification by serial, safe retries, rate limits, and one error shape."""
import datetime
import os
import threading
import uuid

import pytest
from sqlalchemy import func, select

from app.api_store import IdempotencyKey
from app.extensions import db
from app.models import Certificate, Citizen, Permit, SkillTest
from tests import factories as f
from tests.conftest import PASSWORD

ON_PG = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
DOCS = {k: True for k in ("commercial_register", "tax_card", "passport", "medical", "photos")}


def token(app, username, password=PASSWORD):
    r = app.test_client().post("/api/v1/security/login",
                               json={"username": username, "password": password, "provider": "db"})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()["access_token"]


@pytest.fixture(scope="module")
def auth(app):
    tokens = {}

    def get(username):
        if username not in tokens:
            with app.app_context():
                tokens[username] = {"Authorization": f"Bearer {token(app, username)}"}
        return tokens[username]
    return get


def assert_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)[:200]
    body = response.get_json()
    assert body["code"] == code, body
    assert set(body["message"]) == {"ar", "en"} and body["message"]["ar"] and body["message"]["en"]
    assert body["message"]["ar"] != body["message"]["en"], "the Arabic message is translated"
    assert isinstance(body["details"], dict)
    return body


def submit(app, headers, body, key=None):
    extra = {"Idempotency-Key": key} if key else {}
    return app.test_client().post("/api/v1/application/", json=body, headers={**headers, **extra})


# --- login ------------------------------------------------------------------------
def test_jwt_login_and_wrong_password(app, ctx):
    assert token(app, "portal")
    r = app.test_client().post("/api/v1/security/login",
                               json={"username": "portal", "password": "wrong", "provider": "db"})
    assert_error(r, 401, "invalid_credentials")


def test_api_key_create_use_and_revoke(app, ctx):
    from app.cli import sijill
    runner = app.test_cli_runner()
    out = runner.invoke(sijill, ["api-key", "create", "--user", "portal", "--name", "test-key"])
    assert out.exit_code == 0, out.output
    lines = dict(line.split(":", 1) for line in out.output.splitlines() if line.startswith(("uuid:", "key:")))
    key, uuid = lines["key"].strip(), lines["uuid"].strip()
    from flask_appbuilder.security.sqla.models import ApiKey
    stored = db.session.scalar(select(ApiKey).where(ApiKey.uuid == uuid))
    assert key not in (stored.key_hash, stored.lookup_hash), "only hashes are stored"
    citizen = f.citizen("01")
    for headers in ({"X-API-Key": key}, {"Authorization": f"ApiKey {key}"}, {"Authorization": f"Bearer {key}"}):
        r = app.test_client().get(f"/api/v1/citizen/lookup/{citizen.national_id}", headers=headers)
        assert r.status_code == 200, (headers, r.get_data(as_text=True))
    assert runner.invoke(sijill, ["api-key", "revoke", uuid]).exit_code == 0
    r = app.test_client().get(f"/api/v1/citizen/lookup/{citizen.national_id}", headers={"X-API-Key": key})
    assert_error(r, 401, "unauthorized")
    r = app.test_client().get(f"/api/v1/citizen/lookup/{citizen.national_id}", headers={"X-API-Key": "sjl_forged"})
    assert_error(r, 401, "unauthorized")


def test_portal_reaches_only_its_calls(app, ctx, auth):
    citizen = f.citizen("01")
    for path in ("/api/v1/citizen/", f"/api/v1/citizen/{citizen.id}", "/api/v1/certificate/", "/api/v1/permit/"):
        assert_error(app.test_client().get(path, headers=auth("portal")), 403, "forbidden")
    # and never the web screens
    web = app.test_client()
    web.post("/login/", data={"username": "portal", "password": PASSWORD})
    r = web.get("/citizenview/list/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


# --- lookup -----------------------------------------------------------------------
def test_lookup_gives_minimal_data(app, ctx, auth):
    citizen = f.citizen("21", full_name="محمود سامح عبد الرحمن النجار", mobile="01012345678")
    r = app.test_client().get(f"/api/v1/citizen/lookup/{citizen.national_id}", headers=auth("portal"))
    assert r.status_code == 200
    body = r.get_json()
    assert body == {"national_id": citizen.national_id, "registered": True, "masked_name": "محمود س*** ع*** ا*** ا***",
                    "directorate": {"code": "21", "name_ar": "الجيزة", "name_en": "Giza"}}
    # Arabic-Indic digits are the same ID
    eastern = citizen.national_id.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert app.test_client().get(f"/api/v1/citizen/lookup/{eastern}", headers=auth("portal")).status_code == 200


def test_lookup_of_bad_and_unknown_ids(app, ctx, auth):
    body = assert_error(app.test_client().get("/api/v1/citizen/lookup/12345", headers=auth("portal")),
                        422, "validation_error")
    assert "14" in body["details"]["fields"]["national_id"]["ar"]
    unknown = f.national_id(gov="02")
    assert_error(app.test_client().get(f"/api/v1/citizen/lookup/{unknown}", headers=auth("portal")),
                 404, "not_found")


# --- applications -----------------------------------------------------------------
def queue_ids(app, headers, resource):
    r = app.test_client().get(f"/api/v1/{resource}/?q=(filters:!((col:status,opr:eq,value:submitted)),"
                              f"page_size:100)", headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    return set(r.get_json()["ids"])


def test_registration_lands_submitted_in_the_citizens_directorate(app, ctx, auth):
    citizen = f.citizen("21")
    r = submit(app, auth("portal"), {"type": "registration", "national_id": citizen.national_id,
                                     "occupation": "7411", "experience_years": 4})
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert body["status"] == "submitted" and body["directorate"]["code"] == "21"
    assert body["status_label"] == {"ar": "مقدَّم للاعتماد", "en": "Submitted"}
    cert_id = int(body["reference"].split("-")[1])
    cert = db.session.get(Certificate, cert_id)
    assert (cert.kind, cert.status, cert.channel, cert.citizen_id) == ("registration", "submitted", "portal",
                                                                       citizen.id)
    assert cert.directorate_id == f.directorate("21").id
    assert cert_id in queue_ids(app, auth("giza_manager"), "certificate")
    assert cert_id not in queue_ids(app, auth("cairo_manager"), "certificate")


def test_registration_of_a_new_citizen_registers_them_where_they_live(app, ctx, auth):
    nid = f.national_id(gov="02")  # born in Alexandria, lives in Giza
    body = {"type": "registration", "national_id": nid, "occupation": "7411",
            "citizen": {"full_name": "هبة علي حسن منصور", "mobile": "01112345678", "governorate": "21"}}
    r = submit(app, auth("portal"), body)
    assert r.status_code == 201, r.get_data(as_text=True)
    citizen = db.session.scalar(select(Citizen).where(Citizen.national_id == nid))
    assert citizen.directorate.code == "21" and citizen.birth_governorate == "02" and citizen.gender == "M"
    assert r.get_json()["directorate"]["code"] == "21"


def test_bad_application_changes_nothing(app, ctx, auth):
    citizen = f.citizen("01")
    before = db.session.scalar(select(func.count(Certificate.id)))
    cases = [
        ({"type": "registration", "national_id": citizen.national_id, "occupation": "9999"}, "validation_error"),
        ({"type": "registration", "national_id": citizen.national_id, "occupation": "7"}, "rule_violation"),
        ({"type": "registration", "national_id": f.national_id(), "occupation": "7411"}, "validation_error"),
        ({"type": "registration", "national_id": f.national_id(),
          "occupation": "7411", "citizen": {"full_name": "Latin Name Only"}}, "rule_violation"),
        ({"type": "craft_licence", "national_id": citizen.national_id, "occupation": "7411"}, "rule_violation"),
        ({"type": "dragon"}, "validation_error"),
        ({"national_id": citizen.national_id}, "validation_error"),
    ]
    for body, code in cases:
        answer = assert_error(submit(app, auth("portal"), body), 422, code)
        assert answer["details"].get("fields"), answer
    # a new citizen whose record breaks a rule is not left behind either
    assert db.session.scalar(select(func.count(Certificate.id))) == before
    assert db.session.scalar(select(func.count(Citizen.id)).where(Citizen.full_name == "Latin Name Only")) == 0
    craft = submit(app, auth("portal"), cases[4][0]).get_json()
    assert "skill" in craft["details"]["fields"]["occupation"]["en"].lower()


def test_status_shows_the_reason_after_a_manager_rejects(app, ctx, auth, as_user):
    citizen = f.citizen("21")
    reference = submit(app, auth("portal"), {"type": "registration", "national_id": citizen.national_id,
                                             "occupation": "7411"}).get_json()["reference"]
    cert_id = int(reference.split("-")[1])
    r = as_user("giza_manager").post(f"/certificateview/step/{cert_id}/reject",
                                     data={"reason": "صورة البطاقة غير واضحة"})
    assert r.status_code == 302
    status = app.test_client().get(f"/api/v1/application/{reference}", headers=auth("portal"))
    assert status.status_code == 200
    body = status.get_json()
    assert (body["status"], body["reason"]) == ("rejected", "صورة البطاقة غير واضحة")
    assert body["status_label"]["en"] == "Rejected" and body["decided_at"]
    # another directorate's manager cannot read it; the portal cannot read counter applications
    assert_error(app.test_client().get(f"/api/v1/application/{reference}", headers=auth("cairo_manager")),
                 404, "not_found")
    counter = f.certificate(f.citizen("21"))
    assert_error(app.test_client().get(f"/api/v1/application/REG-{counter.id}", headers=auth("portal")),
                 404, "not_found")
    assert_error(app.test_client().get("/api/v1/application/XYZ-1", headers=auth("portal")), 404, "not_found")


def test_status_after_approval_has_the_serial(app, ctx, auth, as_user):
    citizen = f.citizen("01")
    reference = submit(app, auth("portal"), {"type": "registration", "national_id": citizen.national_id,
                                             "occupation": "7411"}).get_json()["reference"]
    cert_id = int(reference.split("-")[1])
    assert as_user("cairo_manager").post(f"/certificateview/step/{cert_id}/approve").status_code == 302
    body = app.test_client().get(f"/api/v1/application/{reference}", headers=auth("portal")).get_json()
    assert body["status"] == "issued" and body["serial"].startswith("01-") and "-REG-" in body["serial"]


def test_skill_test_booking_waits_for_its_scores(app, ctx, auth, as_user):
    citizen = f.citizen("01")
    day = (datetime.date.today() + datetime.timedelta(days=10)).isoformat()
    r = submit(app, auth("portal"), {"type": "skill_test", "national_id": citizen.national_id,
                                     "occupation": "7411", "skill_level": 3, "test_date": day})
    assert r.status_code == 201, r.get_data(as_text=True)
    test = db.session.get(SkillTest, int(r.get_json()["reference"].split("-")[1]))
    assert (test.status, test.test_date.isoformat(), test.theory_score) == ("submitted", day, None)
    # the manager cannot approve a test that has not been held
    as_user("cairo_manager").post(f"/skilltestview/step/{test.id}/approve")
    db.session.expire_all()
    assert db.session.get(SkillTest, test.id).status == "submitted"
    past = submit(app, auth("portal"), {"type": "skill_test", "national_id": citizen.national_id,
                                        "occupation": "7411", "skill_level": 3, "test_date": "2020-01-01"})
    assert_error(past, 422, "validation_error")


def test_permit_renewal_lands_in_the_establishments_directorate(app, ctx, auth):
    permit = f.issue(f.permit(f.establishment("21")), clerk="giza_clerk", manager="giza_manager")
    r = submit(app, auth("portal"), {"type": "permit_renewal", "permit_serial": permit.serial, "documents": DOCS})
    assert r.status_code == 201, r.get_data(as_text=True)
    renewal = db.session.get(Permit, int(r.get_json()["reference"].split("-")[1]))
    assert (renewal.kind, renewal.renews_id, renewal.status) == ("renewal", permit.id, "submitted")
    assert renewal.directorate_id == permit.directorate_id and renewal.start_date == permit.end_date + \
        datetime.timedelta(days=1)
    missing = submit(app, auth("portal"), {"type": "permit_renewal", "permit_serial": permit.serial})
    assert "docs_commercial_register" in assert_error(missing, 422, "rule_violation")["details"]["fields"]
    assert_error(submit(app, auth("portal"), {"type": "permit_renewal", "permit_serial": "NOPE"}),
                 422, "validation_error")


# --- verification -----------------------------------------------------------------
def test_verify_by_serial(app, ctx, auth):
    citizen = f.citizen("01", full_name="سارة محمود علي البنا")
    cert = f.issue(f.certificate(citizen))
    r = app.test_client().get(f"/api/v1/verification/{cert.serial}", headers=auth("portal"))
    body = r.get_json()
    assert r.status_code == 200 and body["status"] == "valid"
    assert body["document_type"] == {"ar": "شهادة قيد", "en": "Registration certificate"}
    text = r.get_data(as_text=True)
    assert citizen.national_id not in text and "سارة" not in r.get_data().decode("unicode_escape", "ignore")
    from app import workflow
    workflow.apply(db.session, cert, "revoke", user=f.user("cairo_manager"), reason="بيانات خاطئة")
    db.session.commit()
    assert app.test_client().get(f"/api/v1/verification/{cert.serial}",
                                 headers=auth("portal")).get_json()["status"] == "revoked"
    card = f.issue(f.permit(f.establishment("01")))
    card.end_date = datetime.date.today() - datetime.timedelta(days=1)
    card.start_date = card.end_date - datetime.timedelta(days=200)
    db.session.commit()
    assert app.test_client().get(f"/api/v1/verification/{card.serial}",
                                 headers=auth("portal")).get_json()["status"] == "expired"
    # any directorate's clerk verifies any document: it is public information
    assert app.test_client().get(f"/api/v1/verification/{card.serial}",
                                 headers=auth("giza_clerk")).get_json()["status"] == "expired"
    unknown = app.test_client().get("/api/v1/verification/01-2026-REG-999999", headers=auth("portal"))
    assert unknown.status_code == 200 and unknown.get_json()["status"] == "not_found"


# --- safe retries -----------------------------------------------------------------
def test_same_idempotency_key_makes_one_application(app, ctx, auth):
    citizen = f.citizen("01")
    body = {"type": "registration", "national_id": citizen.national_id, "occupation": "7411"}
    # keys unique per run: a PostgreSQL test database outlives the run
    key1, key2 = f"portal-{uuid.uuid4()}", f"portal-{uuid.uuid4()}"
    first = submit(app, auth("portal"), body, key=key1)
    again = submit(app, auth("portal"), body, key=key1)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    count = db.session.scalar(select(func.count(Certificate.id)).where(Certificate.citizen_id == citizen.id))
    assert count == 1
    other = submit(app, auth("portal"), dict(body, occupation="7126"), key=key1)
    assert_error(other, 422, "idempotency_key_reused")
    # a key is the client's own: another client's same key is another request
    assert submit(app, auth("cairo_clerk"), body, key=key1).status_code == 201
    # a refused request stores nothing: the corrected retry under the same key goes through
    bad = submit(app, auth("portal"), dict(body, occupation="9999"), key=key2)
    assert_error(bad, 422, "validation_error")
    assert submit(app, auth("portal"), body, key=key2).status_code == 201


@pytest.mark.skipif(not ON_PG, reason="concurrent transactions need PostgreSQL")
def test_concurrent_duplicates_make_one_application(app, auth):
    with app.app_context():
        citizen = f.citizen("01")
        citizen_id, nid = citizen.id, citizen.national_id
        headers = auth("portal")
    body = {"type": "registration", "national_id": nid, "occupation": "7411"}
    start, answers, key = threading.Barrier(6), [], f"race-{uuid.uuid4()}"

    def one():
        client = app.test_client()
        start.wait()
        r = client.post("/api/v1/application/", json=body, headers={**headers, "Idempotency-Key": key})
        answers.append((r.status_code, r.get_json()))
    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with app.app_context():
        count = db.session.scalar(select(func.count(Certificate.id)).where(Certificate.citizen_id == citizen_id))
        keys = db.session.scalar(select(func.count(IdempotencyKey.id)).where(IdempotencyKey.key == key))
    assert count == 1 and keys == 1
    created = [a for a in answers if a[0] == 201]
    assert created and len({a[1]["reference"] for a in created}) == 1
    assert all(status in (201, 409) for status, _ in answers), answers


# --- rate limit -------------------------------------------------------------------
def test_rate_limit_answers_429_with_retry_after(app, ctx, auth):
    app.config["API_RATE_LIMIT_PER_MINUTE"] = 3
    try:
        answers = [app.test_client().get("/api/v1/verification/X", headers=auth("portal")) for _ in range(8)]
        other_client = app.test_client().get("/api/v1/verification/X", headers=auth("cairo_clerk"))
    finally:
        app.config["API_RATE_LIMIT_PER_MINUTE"] = 0
    limited = [r for r in answers if r.status_code == 429]
    assert limited, [r.status_code for r in answers]
    body = assert_error(limited[0], 429, "rate_limited")
    assert 1 <= int(limited[0].headers["Retry-After"]) <= 60
    assert body["details"]["limit_per_minute"] == 3
    assert other_client.status_code == 200, "the limit is per client"


# --- one error shape --------------------------------------------------------------
def test_every_error_has_the_one_shape(app, ctx, auth):
    c = app.test_client()
    portal = auth("portal")
    assert_error(c.get("/api/v1/no-such-thing/", headers=portal), 404, "not_found")
    assert_error(c.get("/api/v1/citizen/lookup/29001010100019"), 401, "unauthorized")
    assert_error(c.get("/api/v1/citizen/", headers={"Authorization": "Bearer not.a.jwt"}), 401, "invalid_token")
    assert_error(c.get("/api/v1/citizen/", headers=portal), 403, "forbidden")
    assert_error(c.delete("/api/v1/application/", headers=portal), 405, "method_not_allowed")
    assert_error(c.post("/api/v1/application/", data="{not json", headers={**portal, "Content-Type":
                                                                           "application/json"}),
                 400, "malformed_json")
    assert_error(c.post("/api/v1/application/", data="type=registration", headers={
        **portal, "Content-Type": "application/x-www-form-urlencoded"}), 400, "unsupported_media_type")
    assert_error(c.post("/api/v1/application/", json=[1, 2], headers=portal), 422, "validation_error")
    assert_error(c.post("/api/v1/application/", json={}, headers={**portal, "Idempotency-Key": "x" * 300}),
                 400, "bad_request")
    manager = auth("cairo_manager")
    assert_error(c.post("/api/v1/citizen/", data="{", headers={**manager, "Content-Type": "application/json"}),
                 400, "malformed_json")
    assert_error(c.post("/api/v1/citizen/", data="x=1", headers={**manager, "Content-Type": "text/plain"}),
                 400, "unsupported_media_type")
    assert_error(c.get("/api/v1/citizen/99999999999999", headers=manager), 404, "not_found")
    assert_error(c.get("/api/v1/citizen/?q=(((", headers=manager), 400, "bad_request")


def test_model_resource_errors_are_clear_and_change_nothing(app, ctx, auth):
    c = app.test_client()
    manager = auth("cairo_manager")
    before = db.session.scalar(select(func.count(Citizen.id)))
    # FAB would build a new citizen from a nested object: refused
    r = c.post("/api/v1/certificate/", json={"kind": "registration", "citizen": {"full_name": "x"},
                                             "occupation": 1}, headers=manager)
    assert "citizen" in assert_error(r, 422, "validation_error")["details"]["fields"]
    r = c.post("/api/v1/citizen/", json={"national_id": f.national_id(), "full_name": "اسم"}, headers=manager)
    assert "full_name" in assert_error(r, 422, "rule_violation")["details"]["fields"]
    r = c.post("/api/v1/citizen/", json={"national_id": "123", "full_name": "محمد أحمد علي"}, headers=manager)
    assert_error(r, 422, "rule_violation")
    assert db.session.scalar(select(func.count(Citizen.id))) == before
    existing = f.citizen("01")
    r = c.post("/api/v1/citizen/", json={"national_id": existing.national_id, "full_name": "محمد أحمد علي"},
               headers=manager)
    assert "national_id" in assert_error(r, 422, "rule_violation")["details"]["fields"]


def test_openapi_describes_the_portal_calls_and_swagger_is_for_admins(app, ctx, auth, as_user):
    spec = app.test_client().get("/api/v1/_openapi", headers=auth("admin")).get_json()
    for path in ("/api/v1/application/", "/api/v1/application/{reference}", "/api/v1/verification/{serial}",
                 "/api/v1/citizen/lookup/{national_id}", "/api/v1/security/login"):
        assert path in spec["paths"], path
    post = spec["paths"]["/api/v1/application/"]["post"]
    assert {"201", "409", "422", "429"} <= set(post["responses"])
    assert spec["components"]["responses"]["404"]["content"]["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/Error"}
    assert as_user("admin").get("/swagger/v1").status_code == 200
    assert as_user("cairo_manager").get("/swagger/v1").status_code in (302, 403)


def test_login_errors_have_the_shape(app, ctx):
    c = app.test_client()
    assert_error(c.post("/api/v1/security/login", data="username=portal", headers={
        "Content-Type": "application/x-www-form-urlencoded"}), 400, "unsupported_media_type")
    assert_error(c.post("/api/v1/security/login", json={"username": "portal"}), 400, "bad_request")
