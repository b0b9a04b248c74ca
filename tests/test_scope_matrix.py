"""Every scoped model × every role × every path × own and other directorate.

One table of expectations (EXPECT) generates the cases. "own" rows are in
Cairo (01), the directorate of cairo_manager / cairo_clerk; "other" rows are
in Giza (21). Outcomes:
  ok      the action happened / the row is visible
  absent  404, or the row is not among the results
  denied  403
  login   not logged in: redirect to the login page (web) or 401 (API)
A case that is not "ok" must change nothing, and a denial of a logged-in user
must leave an "denied" row in the audit trail.
"""
import datetime
import itertools

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Certificate, Citizen, Establishment, Permit, SkillTest
from tests import factories as f
from tests.conftest import PASSWORD

OK, ABSENT, DENIED, LOGIN = "ok", "absent", "denied", "login"
ROLES = ("admin", "cairo_manager", "cairo_clerk", "auditor", "portal", "anonymous")
MODELS = {
    "Citizen": ("citizenview", "citizen", Citizen),
    "Establishment": ("establishmentview", "establishment", Establishment),
    "Certificate": ("certificateview", "certificate", Certificate),
    "SkillTest": ("skilltestview", "skilltest", SkillTest),
    "Permit": ("permitview", "permit", Permit),
}
WORKFLOW = {"Certificate", "SkillTest", "Permit"}
PICKABLE = {"Citizen": "citizen", "Establishment": "establishment", "Permit": "permit"}


def staff(read, write, export):
    """Expectations of a directorate user: own directorate as its role allows, the other never."""
    def expect(model, path, side):
        verb = PATH_VERB[path]
        allowed = {"read": read, "write": write, "export": export, "delete": False}[verb]
        if not allowed:
            return DENIED
        if path == "api_info":
            return OK  # not a row: checked for leaking choices instead
        return OK if side == "own" else ABSENT
    return expect


def ministry(read, write, export, delete):
    def expect(model, path, side):
        allowed = {"read": read, "write": write, "export": export, "delete": delete}[PATH_VERB[path]]
        return OK if allowed else DENIED
    return expect


def portal(model, path, side):
    """API only (the web login refuses it), and only the portal's calls:
    citizen lookup, submitting applications and reading the status of the
    ones it submitted itself (the matrix's rows were made at the counter)."""
    if not path.startswith("api_"):
        return LOGIN
    if path in ("api_lookup", "api_submit"):
        return OK
    if path == "api_status":
        return ABSENT  # not its own application
    return DENIED


def anonymous(model, path, side):
    return LOGIN


PATH_VERB = {
    "list": "read", "show": "read", "edit": "write", "delete": "delete", "bulk_submit": "write",
    "step_submit": "write", "export": "export", "picker": "read", "form_fk": "write",
    "api_list": "read", "api_get": "read", "api_info": "read", "api_put": "write", "api_delete": "delete",
    "api_post_fk": "write",
    # the portal's operations (app/portal_api.py), open to staff within their scope
    "api_lookup": "read", "api_status": "read", "api_submit": "write",
}
EXPECT = {
    "admin": ministry(read=True, write=True, export=True, delete=True),
    "cairo_manager": staff(read=True, write=True, export=True),
    "cairo_clerk": staff(read=True, write=True, export=False),
    "auditor": ministry(read=True, write=False, export=True, delete=False),
    "portal": portal,
    "anonymous": anonymous,
}


def expected(role, model, path, side):
    return EXPECT[role](model, path, side)


def paths_for(model):
    paths = ["list", "show", "edit", "delete", "export", "api_list", "api_get", "api_info", "api_put",
             "api_delete"]
    if model in WORKFLOW:
        paths += ["bulk_submit", "step_submit", "form_fk", "api_post_fk", "api_status", "api_submit"]
    if model == "Citizen":
        paths.append("api_lookup")
    if model in PICKABLE:
        paths.append("picker")
    return paths


CASES = [(role, model, path, side)
         for model in MODELS for role in ROLES for path in paths_for(model) for side in ("own", "other")]


# --- rows --------------------------------------------------------------------------
_marks = itertools.count(1)


def marker():
    """A unique Arabic word (names must be Arabic letters)."""
    n = next(_marks) * 7919 + int(datetime.datetime.now().strftime("%M%S%f")[:8])
    return "".join("ابتثجحخدذرزسشصضطظعغفقكلمنهوي"[int(d) * 2 % 28 + i % 2] for i, d in enumerate(str(n)))


def make_rows(model, code):
    mark = marker()
    citizen = f.citizen(code, full_name=f"محمد أحمد {mark} حسن")
    if model == "Citizen":
        return citizen, mark, citizen
    if model == "Establishment":
        est = f.establishment(code, name=f"شركة {mark}")
        return est, mark, citizen
    if model == "Certificate":
        return f.certificate(citizen), mark, citizen
    if model == "SkillTest":
        return f.skill_test(citizen), mark, citizen
    est = f.establishment(code, name=f"شركة {mark}")
    return f.permit(est, worker_name=f"Worker {mark}"), mark, est


EDIT_FORMS = {
    "Citizen": lambda row: ({"full_name": row.full_name, "address": "عنوان جديد معدل"},
                            lambda r: r.address == "عنوان جديد معدل"),
    "Establishment": lambda row: ({"name": row.name, "tax_number": row.tax_number, "egyptian_workers": "99",
                                   "address": "عنوان جديد معدل"}, lambda r: r.egyptian_workers == 99),
    "Certificate": lambda row: ({"citizen": row.citizen_id, "occupation": row.occupation_id, "experience_years": "9"},
                                lambda r: r.experience_years == 9),
    "SkillTest": lambda row: ({"citizen": row.citizen_id, "occupation": row.occupation_id,
                               "skill_level": row.skill_level_id, "test_date": row.test_date.isoformat(),
                               "theory_score": "91", "practical_score": "75"}, lambda r: r.theory_score == 91),
    "Permit": lambda row: ({"kind": "new", "worker_name": "Edited Name", "passport_number": row.passport_number,
                            "nationality": row.nationality, "birth_date": row.birth_date.isoformat(),
                            "gender": row.gender, "establishment": row.establishment_id,
                            "occupation": row.occupation_id, "start_date": row.start_date.isoformat(),
                            "end_date": row.end_date.isoformat(), "security_cleared": "y",
                            **{k: "y" for k in Permit.DOCUMENT_FIELDS}},
                           lambda r: r.worker_name == "Edited Name"),
}
API_PUT = {
    "Citizen": ({"address": "عنوان من الواجهة البرمجية"}, lambda r: r.address == "عنوان من الواجهة البرمجية"),
    "Establishment": ({"egyptian_workers": 77}, lambda r: r.egyptian_workers == 77),
    "Certificate": ({"experience_years": 7}, lambda r: r.experience_years == 7),
    "SkillTest": ({"theory_score": 88}, lambda r: r.theory_score == 88),
    "Permit": ({"worker_name": "Api Edited"}, lambda r: r.worker_name == "Api Edited"),
}


def snapshot(model_cls, row_id):
    db.session.expire_all()
    row = db.session.execute(select(model_cls).where(model_cls.id == row_id)
                             .execution_options(sijill_include_deleted=True)).scalar_one()
    return {c.key: getattr(row, c.key) for c in model_cls.__table__.columns}


def denial_count():
    return db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "denied"))


# --- clients -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def clients(app):
    made = {}
    with app.app_context():
        for role in ROLES:
            client = app.test_client()
            token = None
            if role != "anonymous":
                assert client.post("/login/", data={"username": role, "password": PASSWORD}).status_code == 302 \
                    or role == "portal"
                r = app.test_client().post("/api/v1/security/login", json={
                    "username": role, "password": PASSWORD, "provider": "db"})
                assert r.status_code == 200, (role, r.get_data(as_text=True))
                token = r.get_json()["access_token"]
            made[role] = (client, token)
    return made


def web_outcome(response):
    if response.status_code == 403:
        return DENIED
    if response.status_code == 404:
        return ABSENT
    if response.status_code in (301, 302) and "/login" in response.headers.get("Location", ""):
        return LOGIN
    if response.status_code == 401:
        return LOGIN
    return None


def api_outcome(response):
    return {401: LOGIN, 403: DENIED, 404: ABSENT}.get(response.status_code)


def run_path(client, token, model, path, row, mark, parent):
    view, resource, model_cls = MODELS[model]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if path == "list":
        r = client.get(f"/{view}/list/")
        return web_outcome(r) or (OK if f"/show/{row.id}\"" in r.get_data(as_text=True) or
                                  f"/show/{row.id}'" in r.get_data(as_text=True) else ABSENT)
    if path == "show":
        r = client.get(f"/{view}/show/{row.id}")
        return web_outcome(r) or (OK if r.status_code == 200 else ABSENT)
    if path == "edit":
        data, changed = EDIT_FORMS[model](row)
        r = client.post(f"/{view}/edit/{row.id}", data=data)
        db.session.expire_all()
        return web_outcome(r) or (OK if changed(db.session.get(model_cls, row.id)) else f"unchanged:{r.status_code}")
    if path == "delete":
        r = client.post(f"/{view}/delete/{row.id}")
        gone = snapshot(model_cls, row.id)["deleted_at"] is not None
        return web_outcome(r) or (OK if gone else f"not deleted:{r.status_code}")
    if path == "bulk_submit":
        r = client.post(f"/{view}/action_post", data={"action": "submit_selected", "rowid": [row.id]})
        status = snapshot(model_cls, row.id)["status"]
        return web_outcome(r) or (OK if status == "submitted" else ABSENT)
    if path == "step_submit":
        r = client.post(f"/{view}/step/{row.id}/submit")
        status = snapshot(model_cls, row.id)["status"]
        return web_outcome(r) or (OK if status == "submitted" else f"not submitted:{r.status_code}")
    if path == "export":
        r = client.get(f"/{view}/export/csv")
        return web_outcome(r) or (OK if mark in r.get_data(as_text=True) else ABSENT)
    if path == "picker":
        q = row.national_id if model == "Citizen" else (
            row.commercial_register if model == "Establishment" else row.passport_number)
        r = client.get(f"/picker/{PICKABLE[model]}?q={q}")
        return web_outcome(r) or (OK if row.id in [x["id"] for x in r.get_json()["results"]] else ABSENT)
    if path == "form_fk":
        # a new record typed by hand to point at this row's parent
        if model == "Permit":
            data = dict(EDIT_FORMS["Permit"](row)[0], establishment=parent.id, worker_name="Fk Typed",
                        passport_number=f"X{row.id}99")
        elif model == "Certificate":
            data = {"kind": "registration", "citizen": parent.id, "occupation": row.occupation_id}
        else:
            data = dict(EDIT_FORMS["SkillTest"](row)[0], citizen=parent.id)
        fk = "establishment_id" if model == "Permit" else "citizen_id"
        before = db.session.scalar(select(func.count(model_cls.id)).where(getattr(model_cls, fk) == parent.id))
        r = client.post(f"/{view}/add", data=data)
        after = db.session.scalar(select(func.count(model_cls.id)).where(getattr(model_cls, fk) == parent.id))
        return web_outcome(r) or (OK if after == before + 1 else ABSENT)
    if path == "api_list":
        r = client.get(f"/api/v1/{resource}/?q=(page_size:100)", headers=headers)
        return api_outcome(r) or (OK if row.id in r.get_json().get("ids", []) else ABSENT)
    if path == "api_get":
        r = client.get(f"/api/v1/{resource}/{row.id}", headers=headers)
        return api_outcome(r) or (OK if r.status_code == 200 else f"status {r.status_code}")
    if path == "api_info":
        r = client.get(f"/api/v1/{resource}/_info", headers=headers)
        if api_outcome(r):
            return api_outcome(r)
        # the relation choices _info offers must not include rows out of scope
        offered = {v["id"] for col in r.get_json().get("add_columns", []) for v in col.get("values", [])
                   if col.get("name") in ("citizen", "establishment")}
        if parent is not row and parent.id in offered and not MINISTRY_VIEW:
            return "leak"
        return OK if r.status_code == 200 else f"status {r.status_code}"
    if path == "api_put":
        body, changed = API_PUT[model]
        r = client.put(f"/api/v1/{resource}/{row.id}", json=body, headers=headers)
        db.session.expire_all()
        return api_outcome(r) or (OK if changed(db.session.get(model_cls, row.id)) else f"unchanged {r.status_code}")
    if path == "api_delete":
        r = client.delete(f"/api/v1/{resource}/{row.id}", headers=headers)
        gone = snapshot(model_cls, row.id)["deleted_at"] is not None
        return api_outcome(r) or (OK if gone else f"not deleted {r.status_code}")
    if path == "api_post_fk":
        if model == "Permit":
            body = {"worker_name": "Api Fk", "passport_number": f"Y{row.id}77", "nationality": "GB",
                    "birth_date": "1985-01-01", "gender": "M", "kind": "new", "establishment": parent.id,
                    "occupation": row.occupation_id, "start_date": row.start_date.isoformat(),
                    "end_date": row.end_date.isoformat()}
        elif model == "Certificate":
            body = {"kind": "registration", "citizen": parent.id, "occupation": row.occupation_id}
        else:
            body = {"citizen": parent.id, "occupation": row.occupation_id, "skill_level": row.skill_level_id,
                    "test_date": row.test_date.isoformat()}
        fk = "establishment_id" if model == "Permit" else "citizen_id"
        before = db.session.scalar(select(func.count(model_cls.id)).where(getattr(model_cls, fk) == parent.id))
        r = client.post(f"/api/v1/{resource}/", json=body, headers=headers)
        after = db.session.scalar(select(func.count(model_cls.id)).where(getattr(model_cls, fk) == parent.id))
        outcome = api_outcome(r)
        if r.status_code == 422 and after == before:
            outcome = ABSENT  # the typed id did not load: "not found" for the related field
        return outcome or (OK if after == before + 1 else f"not created {r.status_code} {r.get_data(as_text=True)[:200]}")
    if path == "api_lookup":
        r = client.get(f"/api/v1/citizen/lookup/{row.national_id}", headers=headers)
        return api_outcome(r) or (OK if r.get_json().get("national_id") == row.national_id
                                  else f"status {r.status_code}")
    if path == "api_status":
        prefix = {"Certificate": "REG", "SkillTest": "SKT", "Permit": "PRM"}[model]
        r = client.get(f"/api/v1/application/{prefix}-{row.id}", headers=headers)
        return api_outcome(r) or (OK if r.get_json().get("status") == row.status else f"status {r.status_code}")
    if path == "api_submit":
        # an application for this row's holder (a permit: renewing an issued one)
        if model == "Permit":
            f.issue(row, clerk="cairo_clerk", manager="cairo_manager")
            body = {"type": "permit_renewal", "permit_serial": row.serial,
                    "documents": {k: True for k in ("commercial_register", "tax_card", "passport", "medical",
                                                    "photos")}}
            where = Permit.renews_id == row.id
        elif model == "Certificate":
            body = {"type": "registration", "national_id": parent.national_id, "occupation": "7411"}
            where = Certificate.citizen_id == parent.id
        else:
            body = {"type": "skill_test", "national_id": parent.national_id, "occupation": "7411",
                    "skill_level": 3, "test_date": datetime.date.today().isoformat()}
            where = SkillTest.citizen_id == parent.id
        before = db.session.scalar(select(func.count(model_cls.id)).where(where))
        r = client.post("/api/v1/application/", json=body, headers=headers)
        after = db.session.scalar(select(func.count(model_cls.id)).where(where))
        outcome = api_outcome(r)
        if r.status_code == 422 and after == before:
            outcome = ABSENT  # the holder is not found in this user's scope
        return outcome or (OK if r.status_code == 201 and after == before + 1
                           else f"not created {r.status_code} {r.get_data(as_text=True)[:200]}")
    raise AssertionError(path)


MINISTRY_VIEW = True
WRITE_PATHS = {"edit", "delete", "bulk_submit", "step_submit", "api_put", "api_delete"}


@pytest.mark.parametrize("role,model,path,side", CASES, ids=["-".join(c) for c in CASES])
def test_scope_matrix(app, clients, role, model, path, side):
    with app.app_context():
        code = "01" if side == "own" else "21"
        row, mark, parent = make_rows(model, code)
        client, token = clients[role]
        global MINISTRY_VIEW
        MINISTRY_VIEW = role in ("admin", "auditor", "portal") or side == "own"
        before = snapshot(MODELS[model][2], row.id)
        denials = denial_count()
        want = expected(role, model, path, side)
        got = run_path(client, token, model, path, row, mark, parent)
        assert got == want, f"{role} {path} on {side} {model}: expected {want}, got {got}"
        if got != OK and path in WRITE_PATHS:
            assert snapshot(MODELS[model][2], row.id) == before, "a refused write changed the row"
        if got in (DENIED, ABSENT) and role != "anonymous" and path in ("show", "edit", "delete", "step_submit",
                                                                          "api_get", "api_put", "api_delete",
                                                                          "api_lookup", "api_status"):
            assert denial_count() > denials, "the denial was not recorded in the audit trail"
        db.session.rollback()


def test_matrix_size():
    assert len(CASES) > 600
