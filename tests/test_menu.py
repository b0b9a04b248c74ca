"""The navbar menu is rendered once per (permissions, language) and reused
(app/render_cache.py): it must still follow each user's roles and language."""
from app.extensions import appbuilder, db
from app.security import AUDITOR, CLERK
from tests import factories as f
from tests.conftest import PASSWORD, login

AUDIT_LINK = 'href="/auditlogview/list/"'


def test_menu_follows_a_role_change_on_the_next_request(app, ctx):
    sm = appbuilder.sm
    user = sm.find_user(username="menu_clerk") or sm.add_user(
        "menu_clerk", "موظف", "القائمة", "menu_clerk@x.eg", [sm.find_role(CLERK)], PASSWORD)
    user.directorate_id = f.directorate("01").id
    db.session.commit()
    client = login(app, "menu_clerk")
    assert AUDIT_LINK not in client.get("/citizenview/list/").get_data(as_text=True)

    user.roles.append(sm.find_role(AUDITOR))
    db.session.commit()
    assert AUDIT_LINK in client.get("/citizenview/list/").get_data(as_text=True)

    user.roles = [sm.find_role(CLERK)]
    db.session.commit()
    assert AUDIT_LINK not in client.get("/citizenview/list/").get_data(as_text=True)


def test_menu_speaks_the_page_language(app, as_user):
    client = as_user("cairo_clerk")
    arabic = client.get("/citizenview/list/").get_data(as_text=True)
    client.get("/lang/en")
    english = client.get("/citizenview/list/").get_data(as_text=True)
    client.get("/lang/ar")
    again = client.get("/citizenview/list/").get_data(as_text=True)
    menu = lambda html: html[html.index('<ul class="nav navbar-nav">'):html.index("navbar-right")]  # noqa: E731
    assert "المواطنون" in menu(arabic) and "Citizens" in menu(english)
    assert "Citizens" not in menu(arabic) and menu(again) == menu(arabic)


def test_a_permission_taken_from_a_role_applies_on_the_next_request(app, ctx):
    """Each worker keeps a user's permissions until the security stamp moves
    (triggers on the role tables): taking a permission away must still be
    felt on the very next request, and giving it back too."""
    sm = appbuilder.sm
    role = sm.find_role("Stamp test") or sm.add_role("Stamp test")
    read_citizens = sm.find_permission_view_menu("can_read", "Citizen")
    sm.add_permission_role(role, read_citizens)
    user = sm.find_user(username="stamp_user") or sm.add_user(
        "stamp_user", "موظف", "الاختبار", "stamp_user@x.eg", [role], PASSWORD)
    user.directorate_id = f.directorate("01").id
    db.session.commit()
    client = login(app, "stamp_user")
    assert client.get("/citizenview/list/").status_code == 200
    assert client.get("/citizenview/list/").status_code == 200  # now from the worker's cache

    sm.del_permission_role(role, read_citizens)
    assert client.get("/citizenview/list/").status_code in (302, 403)

    sm.add_permission_role(role, read_citizens)
    assert client.get("/citizenview/list/").status_code == 200
