"""Delegated user management and production-mode refusals."""
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import SijillUser
from tests import factories as f


def new_clerk(client, username, **extra):
    data = {"first_name": "موظف", "last_name": "جديد", "username": username, "email": f"{username}@x.eg",
            "password": "Strong#Pass2026", "conf_password": "Strong#Pass2026", **extra}
    return client.post("/directorate-users/add", data=data)


def test_manager_creates_clerk_in_own_directorate_only(app, as_user, ctx):
    manager = as_user("cairo_manager")
    admin_role = db.session.scalar(select(SijillUser).where(SijillUser.username == "admin")).roles[0]
    r = new_clerk(manager, "cairo_clerk_2", roles=[admin_role.id], directorate=f.directorate("21").id)
    assert r.status_code == 302
    user = db.session.scalar(select(SijillUser).where(SijillUser.username == "cairo_clerk_2"))
    assert [r.name for r in user.roles] == ["Clerk"]  # never a role above the manager's
    assert user.directorate.code == "01"


def test_manager_sees_and_disables_only_own_staff(app, as_user, ctx):
    manager = as_user("cairo_manager")
    listing = manager.get("/directorate-users/list/").get_data(as_text=True)
    assert "cairo_clerk" in listing and "giza_clerk" not in listing
    giza = f.user("giza_clerk")
    r = manager.post(f"/directorate-users/edit/{giza.id}", data={"first_name": "x", "last_name": "y",
                                                                 "email": "g@x.eg", "active": ""})
    assert r.status_code == 404
    db.session.expire_all()
    assert db.session.get(SijillUser, giza.id).active


def test_clerk_cannot_manage_users(app, as_user, ctx):
    assert new_clerk(as_user("cairo_clerk"), "sneaky").status_code == 403
    assert as_user("cairo_clerk").get("/users/list/").status_code == 403


def test_production_refuses_demo_passwords(app, ctx, monkeypatch):
    from app import production
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    app.config.update(SIJILL_ENV="production", SESSION_COOKIE_SECURE=True)
    try:
        with pytest.raises(production.UnsafeConfiguration, match="demo password"):
            production.check(app, db)
        monkeypatch.delenv("SECRET_KEY")
        with pytest.raises(production.UnsafeConfiguration, match="SECRET_KEY"):
            production.check(app, db)
    finally:
        app.config.update(SIJILL_ENV="development", SESSION_COOKIE_SECURE=False)
