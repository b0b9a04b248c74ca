"""Security hardening (issue 11): login lockout and rate limit, password
policy, session timeout and cookies, CSRF on every form, state changes only
by POST, security headers and CSP, production refusals, upload limits."""
import datetime
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import passwords, production
from app.extensions import appbuilder, db
from app.models import AuditLog, Certificate, Citizen, SijillUser
from app.scope import Scope, acting_as
from tests import factories as f
from tests.conftest import PASSWORD, login

ROOT = Path(__file__).resolve().parent.parent
LOCKED_AR = "تم إيقاف هذا الحساب مؤقتًا"


def _user(username, password="Good#Pass2026x", role="Clerk", code="01"):
    sm = appbuilder.sm
    user = sm.find_user(username=username)
    if user is None:
        user = sm.add_user(username, "اختبار", "أمان", f"{username}@x.eg", [sm.find_role(role)], password)
        user.directorate_id = f.directorate(code).id
        db.session.merge(user)
        db.session.commit()
    return sm.find_user(username=username)


def _post_login(client, username, password, addr=None):
    kw = {"environ_base": {"REMOTE_ADDR": addr}} if addr else {}
    return client.post("/login/", data={"username": username, "password": password}, **kw)


def _events(username, action):
    return db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.username == username, AuditLog.action == action))


# --- lockout ---------------------------------------------------------------------
def test_lockout_after_repeated_failures_with_arabic_message(app, ctx):
    _user("lock_me")
    client = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        assert "/login/" in _post_login(client, "lock_me", "wrong").headers["Location"]
    page = client.post("/login/", data={"username": "lock_me", "password": "wrong"},
                       follow_redirects=True).get_data(as_text=True)
    assert LOCKED_AR in page
    db.session.expire_all()
    user = appbuilder.sm.find_user(username="lock_me")
    assert user.locked_until and user.locked_until > datetime.datetime.utcnow()
    # the right password does not open a locked account
    page = client.post("/login/", data={"username": "lock_me", "password": "Good#Pass2026x"},
                       follow_redirects=True).get_data(as_text=True)
    assert LOCKED_AR in page
    assert client.get("/citizenview/list/").status_code == 302  # still not logged in
    assert _events("lock_me", "account_locked") == 1 and _events("lock_me", "login_locked") >= 1


def test_admin_unlocks_from_the_users_list_and_it_is_audited(app, as_user, ctx):
    user = _user("unlock_me")
    user.locked_until = datetime.datetime.utcnow() + datetime.timedelta(minutes=30)
    user.fail_login_count = 9
    db.session.merge(user)
    db.session.commit()
    assert _post_login(app.test_client(), "unlock_me", "Good#Pass2026x").headers["Location"].startswith("/login/")
    r = as_user("admin").post("/users/action_post", data={"action": "unlock", "rowid": [user.id]})
    assert r.status_code == 302
    db.session.expire_all()
    user = appbuilder.sm.find_user(username="unlock_me")
    assert user.locked_until is None and user.fail_login_count == 0
    assert db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.action == "account_unlocked", AuditLog.record_id == user.id)) == 1
    assert _post_login(app.test_client(), "unlock_me", "Good#Pass2026x").headers["Location"] == "/"


def test_only_admin_may_unlock(app, as_user, ctx):
    user = _user("unlock_denied")
    user.locked_until = datetime.datetime.utcnow() + datetime.timedelta(minutes=30)
    db.session.merge(user)
    db.session.commit()
    r = as_user("cairo_manager").post("/users/action_post", data={"action": "unlock", "rowid": [user.id]})
    assert r.status_code in (302, 403, 404)
    db.session.expire_all()
    assert appbuilder.sm.find_user(username="unlock_denied").locked_until is not None


def test_an_expired_lock_lets_the_right_password_in_and_counts_afresh(app, ctx):
    user = _user("lock_expired")
    user.locked_until = datetime.datetime.utcnow() - datetime.timedelta(minutes=1)
    user.fail_login_count = 5
    db.session.merge(user)
    db.session.commit()
    assert _post_login(app.test_client(), "lock_expired", "wrong").headers["Location"].startswith("/login/")
    db.session.expire_all()
    user = appbuilder.sm.find_user(username="lock_expired")
    assert user.locked_until is None and user.fail_login_count == 1  # not re-locked by the old count
    assert _post_login(app.test_client(), "lock_expired", "Good#Pass2026x").headers["Location"] == "/"


# --- rate limit -------------------------------------------------------------------
def test_login_rate_limit_per_address_in_arabic(app, ctx):
    client = app.test_client()
    limit = int(app.config["AUTH_RATE_LIMIT"].split()[0])
    codes = [_post_login(client, "nobody", "x", addr="10.11.0.1").status_code for _ in range(limit + 2)]
    assert codes[:limit] == [302] * limit and codes[-1] == 429
    r = _post_login(client, "admin", PASSWORD, addr="10.11.0.1")
    assert r.status_code == 429 and "محاولات دخول كثيرة جدًا" in r.get_data(as_text=True)
    # another address is not affected
    assert _post_login(client, "admin", PASSWORD, addr="10.11.0.2").status_code == 302
    # GET of the login page is never limited
    assert app.test_client().get("/login/", environ_base={"REMOTE_ADDR": "10.11.0.1"}).status_code == 200


# --- password policy --------------------------------------------------------------
@pytest.mark.parametrize("password, username, ok", [
    ("short1A!", "x", False),            # too short
    ("alllowercaseletters", "x", False),  # one class
    ("lowercase123456", "x", False),      # two classes
    ("Ahmed#2026xyz", "ahmed", False),    # contains the username
    ("Strong#Pass2026", "cairo_clerk", True),
    ("كلمةسرطويلة#2026Ab", "x", True),    # Arabic letters count as symbols
])
def test_password_policy(password, username, ok):
    assert (passwords.problems(password, username) == []) is ok


def test_weak_password_refused_on_user_add_with_arabic_message(app, as_user, ctx):
    data = {"first_name": "موظف", "last_name": "جديد", "username": "weakling", "email": "w@x.eg",
            "password": "weakling2026", "conf_password": "weakling2026"}
    r = as_user("cairo_manager").post("/directorate-users/add", data=data)
    assert r.status_code == 200 and "كلمة المرور ضعيفة" in r.get_data(as_text=True)
    assert "ألا تحتوي على اسم المستخدم" in r.get_data(as_text=True)
    assert appbuilder.sm.find_user(username="weakling") is None


def test_weak_password_refused_on_admin_reset(app, as_user, ctx):
    user = _user("reset_me")
    before = user.password
    r = as_user("admin").post(f"/resetpassword/form?pk={user.id}",
                              data={"password": "reset_me_2026", "conf_password": "reset_me_2026"})
    assert "كلمة المرور ضعيفة" in r.get_data(as_text=True)
    db.session.expire_all()
    assert appbuilder.sm.find_user(username="reset_me").password == before


# --- session: idle timeout and cookie flags -----------------------------------------
def test_session_cookie_flags(app):
    client = app.test_client()
    r = _post_login(client, "admin", PASSWORD)
    cookie = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires=" in cookie  # a permanent session: it has a lifetime
    assert not any(c.startswith("remember_token=") for c in r.headers.getlist("Set-Cookie"))


def test_session_ends_after_inactivity_and_activity_renews_it(app, monkeypatch):
    client = login(app, "admin")
    monkeypatch.setitem(app.config, "PERMANENT_SESSION_LIFETIME", datetime.timedelta(seconds=2))
    client.get("/")  # the cookie now carries the 2 s lifetime
    for _ in range(3):  # activity keeps it alive past its lifetime
        time.sleep(1)
        assert client.get("/citizenview/list/").status_code == 200
    time.sleep(3.5)  # the signed timestamp counts whole seconds
    r = client.get("/citizenview/list/")
    assert r.status_code == 302 and "/login/" in r.headers["Location"]


# --- CSRF -----------------------------------------------------------------------------
@pytest.fixture()
def csrf_on(app, monkeypatch):
    """Log in (the login form has its own token), then turn CSRF on, as in production."""
    def client(username):
        monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)
        logged_in = login(app, username)
        monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
        return logged_in
    return client


def _token(client, path):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_post_without_csrf_token_is_refused_and_changes_nothing(app, ctx, csrf_on):
    client = csrf_on("cairo_clerk")
    with acting_as(Scope()):
        before = db.session.scalar(select(func.count(Citizen.id)))
    nid = f.national_id()
    r = client.post("/citizenview/add", data={"national_id": nid, "full_name": "سعيد محمود علي حسن"})
    assert r.status_code == 400 and "رمز الأمان" in r.get_data(as_text=True)
    with acting_as(Scope()):
        assert db.session.scalar(select(func.count(Citizen.id))) == before
    # with the token the same post saves
    token = _token(client, "/citizenview/add")
    r = client.post("/citizenview/add", data={"national_id": nid, "full_name": "سعيد محمود علي حسن",
                                              "csrf_token": token})
    assert r.status_code == 302
    with acting_as(Scope()):
        assert db.session.scalar(select(func.count(Citizen.id))) == before + 1


def test_workflow_step_import_and_logout_need_the_token(app, ctx, csrf_on):
    cert = f.certificate(f.citizen())
    clerk = csrf_on("cairo_clerk")
    assert clerk.post(f"/certificateview/step/{cert.id}/submit").status_code == 400
    db.session.expire_all()
    assert db.session.get(Certificate, cert.id).status == "draft"
    r = clerk.post("/certificateview/step/%d/submit" % cert.id,
                   data={"csrf_token": _token(clerk, f"/certificateview/show/{cert.id}")})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Certificate, cert.id).status == "submitted"

    manager = csrf_on("cairo_manager")
    upload = {"kind": "citizens", "action": "dry", "file": (io.BytesIO(b"a,b\n"), "x.csv")}
    assert manager.post("/imports/run", data=upload, content_type="multipart/form-data").status_code == 400

    assert manager.post("/logout/").status_code == 400
    assert manager.get("/citizenview/list/").status_code == 200  # still logged in
    r = manager.post("/logout/", data={"csrf_token": _token(manager, "/")})
    assert r.status_code == 302
    assert manager.get("/citizenview/list/").status_code == 302


POST_FORM = re.compile(r"<form\b[^>]*method=[\"']post[\"'][^>]*>(.*?)</form>", re.S | re.I)


def test_every_post_form_carries_the_csrf_token(app, ctx, csrf_on):
    """Every POST form on the main screens, as an admin and as a manager."""
    cert = f.certificate(f.citizen())
    citizen = f.citizen()
    pages = ["/", "/citizenview/list/", "/citizenview/add", f"/citizenview/edit/{citizen.id}",
             f"/citizenview/show/{citizen.id}", f"/certificateview/show/{cert.id}", "/certificateview/list/",
             "/certificateview/add", "/skilltestview/add", "/permitview/add", "/establishmentview/add",
             "/imports/", "/statistics/", "/users/list/", "/users/add", "/deleted/", "/occupation-review/"]
    forms = 0
    for username in ("admin", "cairo_manager"):
        client = csrf_on(username)
        for path in pages:
            r = client.get(path)
            if r.status_code != 200:
                continue
            for body in POST_FORM.findall(r.get_data(as_text=True)):
                forms += 1
                assert 'name="csrf_token"' in body, f"{username} {path}: a POST form without the CSRF token"
    assert forms >= 20


# --- state changes only by POST ----------------------------------------------------------
def test_logout_by_get_is_refused(app, ctx):
    client = login(app, "cairo_clerk")
    r = client.get("/logout/")
    assert r.status_code == 405 and "POST" in r.headers["Allow"]
    assert "لا يُقبل هذا الإجراء" in r.get_data(as_text=True)
    assert client.get("/citizenview/list/").status_code == 200


def test_delete_and_actions_by_get_are_refused(app, ctx):
    citizen = f.citizen()
    cert = f.certificate(f.citizen())
    admin = login(app, "admin")
    assert admin.get(f"/citizenview/delete/{citizen.id}").status_code == 405
    assert admin.get(f"/certificateview/action/submit_selected/{cert.id}").status_code == 405
    db.session.expire_all()
    assert db.session.get(Citizen, citizen.id).deleted_at is None
    assert db.session.get(Certificate, cert.id).status == "draft"
    assert admin.post(f"/citizenview/delete/{citizen.id}").status_code == 302  # the button's POST
    db.session.expire_all()
    with acting_as(Scope()):
        assert db.session.get(Citizen, citizen.id).deleted_at is not None


def test_no_get_route_is_a_state_change(app):
    """Every URL rule whose endpoint name says it changes something is POST-only."""
    verbs = re.compile(r"\.(delete|add_|muldelete|approve|reject|revoke|submit|step|restore|run|map|"
                       r"compile|rerun|logout|unlock|action)\b")
    offenders = []
    for rule in app.url_map.iter_rules():
        name = rule.endpoint
        if verbs.search(name) and "GET" in rule.methods and not name.endswith((".add", ".list")):
            if "Api" in name or name.startswith(("appbuilder", "static")):
                continue  # the REST API is token-authenticated (no cookie, no CSRF)
            offenders.append(f"{rule.rule} {name}")
    assert not offenders, offenders


# --- headers and CSP ---------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/login/", "/static/css/sijill.css", "/no-such-page", "/verify/XYZ"])
def test_security_headers_on_every_response(app, path):
    r = app.test_client().get(path)
    h = r.headers
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Referrer-Policy"] in ("same-origin", "strict-origin", "strict-origin-when-cross-origin")
    csp = h["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert re.search(r"script-src 'self' 'nonce-[\w-]{16,}'(;|$)", csp)
    assert "unsafe-inline" not in csp.split("style-src-attr")[0]  # scripts and style sheets: own only
    assert "unsafe-eval" not in csp
    assert "Strict-Transport-Security" not in h  # plain HTTP


def test_hsts_only_over_https(app):
    r = app.test_client().get("/login/", base_url="https://sijill.example")
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")


def test_every_script_carries_this_responses_nonce(app, as_user, ctx):
    citizen = f.citizen()
    for path in ("/", "/citizenview/list/", "/citizenview/add", f"/citizenview/show/{citizen.id}"):
        r = as_user("admin").get(path)
        nonce = re.search(r"'nonce-([\w-]+)'", r.headers["Content-Security-Policy"]).group(1)
        html = r.get_data(as_text=True)
        scripts = re.findall(r"<script\b([^>]*)>", html)
        assert scripts
        for attrs in scripts:
            if 'type="application/json"' in attrs:
                continue  # data, never executed
            assert f'nonce="{nonce}"' in attrs, f"{path}: <script{attrs}> without the nonce"
        assert not re.search(r"<[^>]+\son(click|load|error|change|submit)=", html), f"{path}: inline handler"


def test_nonce_differs_per_response(app):
    client = app.test_client()
    a, b = (client.get("/login/").headers["Content-Security-Policy"] for _ in range(2))
    assert a != b


# --- production refusals ------------------------------------------------------------------
@pytest.fixture()
def production_mode(app, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "7d1f0c2b9a8e4f6d3c5b7a9e1f2d4c6b8a0e2f4d6c8b0a1e")
    monkeypatch.setenv("DOCUMENT_SIGNING_KEY", "3e9b1d7f5a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b")
    monkeypatch.setitem(app.config, "VERIFY_BASE_URL", "https://sijill.example.gov.eg")
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    monkeypatch.setitem(app.config, "SIJILL_ENV", "production")
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    monkeypatch.setitem(app.config, "DEBUG", False)
    # the demo accounts of the test database are judged only where named
    monkeypatch.setattr(production, "_demo_passwords", lambda app, db: [])
    yield monkeypatch


def test_production_starts_when_safe(app, production_mode):
    production.check(app, db)


@pytest.mark.parametrize("change, message", [
    (lambda m, app: m.delenv("SECRET_KEY"), "SECRET_KEY is not set"),
    (lambda m, app: m.setenv("SECRET_KEY", "short-key"), "SECRET_KEY is weak"),
    (lambda m, app: m.setenv("SECRET_KEY", "a" * 64), "SECRET_KEY is weak"),
    (lambda m, app: m.setenv("SECRET_KEY", "test-secret-key"), "SECRET_KEY is weak"),
    (lambda m, app: m.setitem(app.config, "DEBUG", True), "debug mode is on"),
    (lambda m, app: m.setenv("FLASK_DEBUG", "1"), "debug mode is on"),
    (lambda m, app: m.setitem(app.config, "SESSION_COOKIE_SECURE", False), "SESSION_COOKIE_SECURE"),
    (lambda m, app: m.setitem(app.config, "WTF_CSRF_ENABLED", False), "CSRF"),
    (lambda m, app: m.delenv("DOCUMENT_SIGNING_KEY"), "DOCUMENT_SIGNING_KEY is not set"),
    (lambda m, app: m.setitem(app.config, "VERIFY_BASE_URL", ""), "VERIFY_BASE_URL is not set"),
])
def test_production_refuses(app, production_mode, change, message):
    change(production_mode, app)
    with pytest.raises(production.UnsafeConfiguration, match=message):
        production.check(app, db)


def test_production_refuses_any_account_with_the_demo_password(app, ctx, production_mode):
    production_mode.undo()  # the real check of the hashes
    production_mode.setenv("SECRET_KEY", "7d1f0c2b9a8e4f6d3c5b7a9e1f2d4c6b8a0e2f4d6c8b0a1e")
    production_mode.setitem(app.config, "SIJILL_ENV", "production")
    production_mode.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    with pytest.raises(production.UnsafeConfiguration, match="demo password: .*cairo_clerk"):
        production.check(app, db)


def test_production_refusal_stops_the_process(app):
    """The real start-up: create_app raises, so gunicorn's worker never serves."""
    env = dict(os.environ, SIJILL_ENV="production", SECRET_KEY="", SESSION_COOKIE_SECURE="1")
    r = subprocess.run([sys.executable, "-c", "from app import create_app; create_app()"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "refuses to start in production" in r.stderr
    assert "SECRET_KEY is not set" in r.stderr and "demo password" in r.stderr


# --- uploads ----------------------------------------------------------------------------
def _dry_run(client, data, name):
    return client.post("/imports/run", data={"kind": "citizens", "action": "dry",
                                             "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def _stored(app):
    folder = Path(app.instance_path) / "imports"
    return set(folder.iterdir()) if folder.exists() else set()


@pytest.mark.parametrize("data, name, message", [
    (b"<html><script>alert(1)</script></html>", "page.html", "لا يمكن استيراد إلا ملفات CSV"),
    (b"a,b\n1,2\n", "register.csv.exe", "لا يمكن استيراد إلا ملفات CSV"),
    (b"<!DOCTYPE html><html><body onload=alert(1)>", "register.csv", "ليس سجلًا نصيًا"),
    (b"%PDF-1.4 binary", "register.csv", "ليس سجلًا نصيًا"),
    (b"a,b\x00\x00\n", "register.csv", "ليس سجلًا نصيًا"),
    (b"just text, not a zip", "register.xlsx", "ليس مصنف Excel"),
])
def test_uploads_refused_by_name_and_content(app, as_user, ctx, data, name, message):
    before = _stored(app)
    r = _dry_run(as_user("cairo_manager"), data, name)
    assert r.status_code == 400 and message in r.get_data(as_text=True)
    assert _stored(app) == before  # nothing kept


def test_upload_over_the_size_limit_is_413_in_arabic(app, as_user, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024 * 1024)
    r = _dry_run(as_user("cairo_manager"), b"a,b\n" * 400_000, "big.csv")
    assert r.status_code == 413 and "الملف كبير جدًا" in r.get_data(as_text=True)


def test_uploaded_files_are_never_served(app, as_user, ctx):
    r = _dry_run(as_user("cairo_manager"), "الرقم القومي,الاسم رباعي\n".encode(), "ok.csv")
    assert r.status_code == 200
    digest = re.search(r'name="file_hash" value="([0-9a-f]{64})"', r.get_data(as_text=True)).group(1)
    for path in (f"/static/{digest}", f"/imports/{digest}", f"/instance/imports/{digest}",
                 f"/static/../instance/imports/{digest}"):
        assert as_user("cairo_manager").get(path).status_code == 404
    report = as_user("cairo_manager").get(f"/imports/report/citizens/{digest}")
    assert report.headers["Content-Disposition"].startswith("attachment")
    assert report.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert report.headers["X-Content-Type-Options"] == "nosniff"


# --- names with direction controls -----------------------------------------------------------
@pytest.mark.parametrize("control", ["\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u202a"])
def test_names_with_direction_overrides_are_refused(app, as_user, ctx, control):
    nid = f.national_id()
    r = as_user("cairo_clerk").post("/citizenview/add", data={
        "national_id": nid, "full_name": f"محمد {control}أحمد علي حسن"})
    assert r.status_code == 200 and "محارف خفية للتحكم في اتجاه الكتابة" in r.get_data(as_text=True)
    with acting_as(Scope()):
        assert db.session.scalar(select(Citizen).where(Citizen.national_id == nid)) is None


def test_plain_direction_marks_are_removed_not_refused(app, ctx):
    citizen = f.citizen(full_name="محمد\u200f أحمد علي حسن")
    assert citizen.full_name == "محمد أحمد علي حسن"


def test_nul_bytes_and_bad_paging_are_400_in_arabic(app, as_user, ctx):
    client = as_user("cairo_clerk")
    for path in ("/citizenview/list/?_flt_0_full_name=a%00b", "/citizenview/list/?page_CitizenView=x",
                 "/citizenview/list/?psize_CitizenView=100000"):
        r = client.get(path)
        assert r.status_code == 400 and "غير صالح" in r.get_data(as_text=True), path
    r = client.post("/citizenview/add", data={"national_id": "1", "full_name": "a\x00b"})
    assert r.status_code == 400


def test_login_goes_where_asked_only_on_this_site(app):
    """After signing in: the page asked for when it is on this site, the home
    page otherwise."""
    data = {"username": "cairo_clerk", "password": PASSWORD}
    plain = app.test_client().post("/login/", data=data)
    assert plain.status_code == 302 and plain.headers["Location"] in ("/", "http://localhost/")
    asked = app.test_client().post("/login/?next=/citizenview/list/", data=data)
    assert asked.headers["Location"].endswith("/citizenview/list/")
    for evil in ("https://evil.example/", "//evil.example/x"):
        r = app.test_client().post(f"/login/?next={evil}", data=data)
        assert "evil" not in r.headers["Location"]


def test_only_real_offsite_targets_are_logged(app):
    """A sign-in without a target logs nothing; an off-site target is still
    reported (FAB logs both as "Invalid redirect detected")."""
    import logging
    from flask_appbuilder.utils.base import get_safe_redirect
    logger = logging.getLogger("flask_appbuilder.utils.base")
    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    was_disabled, logger.disabled = logger.disabled, False  # alembic's fileConfig disables it in tests
    logger.addHandler(handler)
    try:
        with app.test_request_context("/login/"):
            get_safe_redirect("")
        assert seen == []
        with app.test_request_context("/login/?next=https://evil.example/"):
            get_safe_redirect("https://evil.example/")
        assert len(seen) == 1 and "Invalid redirect" in seen[0]
    finally:
        logger.removeHandler(handler)
        logger.disabled = was_disabled
