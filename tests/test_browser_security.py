"""The Content-Security-Policy in a real browser (headless Chromium): the
main screens work with it active and raise no violation; an injected inline
script is blocked; logout from the navbar is a POST carrying its CSRF token.

Violations are caught twice: the page's ``securitypolicyviolation`` events
(recorded by an init script) and the console errors Chromium logs for them.
"""
from urllib.parse import urlsplit

import pytest

from tests import factories
from tests.test_browser import (  # noqa: F401  (fixtures)
    CHROMIUM, Watch, _login, _new_context, base_url, browser,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                                      "(apt-get install chromium)"),
]

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' @' + e.sourceFile + ':' + e.lineNumber);
});
"""


@pytest.fixture()
def page(browser, base_url, app):  # noqa: F811
    context = _new_context(browser)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    _login(page, base_url, app)
    assert urlsplit(page.url).path == "/"
    yield page
    context.close()


def _violations(page):
    return page.evaluate("window.__csp || []")


def test_main_screens_raise_no_csp_violation(app, page, base_url):  # noqa: F811
    with app.app_context():
        citizen = factories.citizen()
        factories.certificate(citizen)
        citizen_id = citizen.id
    watch = Watch(page, base_url)
    seen = []

    def visit(path):
        watch.open(path)
        seen.extend(f"{path}: {v}" for v in _violations(page))

    visit("/")
    visit("/citizenview/list/")
    visit(f"/citizenview/show/{citizen_id}")
    visit("/citizenview/add")
    page.fill("#national_id", factories.national_id())  # the live ID preview (fetch + DOM)
    page.wait_for_timeout(500)
    seen.extend(f"citizen add preview: {v}" for v in _violations(page))

    visit("/certificateview/add")  # select2 picker over the citizens
    page.click("#citizen + .select2 .select2-selection")
    page.keyboard.type("2")
    page.locator(".select2-container--open .select2-results").wait_for()
    page.keyboard.press("Escape")
    seen.extend(f"select2: {v}" for v in _violations(page))

    visit("/permitview/add")  # the date picker
    page.click("input[name=start_date]")
    page.locator(".datepicker-dropdown").wait_for()
    seen.extend(f"datepicker: {v}" for v in _violations(page))

    visit("/certificateview/list/")  # the actions menu and its modal
    page.click("text=الإجراءات")
    page.locator(".submit_selected_menu_item").first.click()
    page.locator("#modal-alert").wait_for()
    seen.extend(f"modal: {v}" for v in _violations(page))

    visit("/statistics/")
    visit("/imports/")
    visit("/swagger/v1")

    page.click(".sijill-locale-menu > a")  # language switch, both ways
    page.click(".sijill-locale-menu a[hreflang=en]")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "en"
    seen.extend(f"to English: {v}" for v in _violations(page))
    page.click(".sijill-locale-menu > a")
    page.click(".sijill-locale-menu a[hreflang=ar]")
    page.wait_for_load_state("networkidle")
    seen.extend(f"to Arabic: {v}" for v in _violations(page))

    assert not seen, "CSP violations:\n" + "\n".join(seen)
    watch.assert_clean()  # no console error (Chromium logs each violation there too)


def test_an_injected_inline_script_is_blocked(page, base_url):  # noqa: F811
    page.goto(base_url + "/citizenview/list/")
    page.evaluate("""() => {
        window.__ran = false;
        const s = document.createElement('script');
        s.textContent = 'window.__ran = true';
        document.body.appendChild(s);
        const img = document.createElement('img');
        img.setAttribute('src', 'x:');
        img.setAttribute('onerror', 'window.__ran = true');
        document.body.appendChild(img);
    }""")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__ran") is False
    assert any(v.startswith("script-src") for v in _violations(page)), _violations(page)


def test_navbar_logout_posts_with_its_csrf_token(app, page, base_url, monkeypatch):  # noqa: F811
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)  # as in production
    page.goto(base_url + "/citizenview/list/")
    page.click(".navbar-right .fa-user")
    with page.expect_navigation():
        page.click(".sijill-logout")
    page.wait_for_load_state("networkidle")
    assert "رمز الأمان" not in page.inner_text("body")  # not the CSRF refusal
    page.goto(base_url + "/citizenview/list/")
    assert urlsplit(page.url).path == "/login/"  # logged out
    assert not _violations(page)
