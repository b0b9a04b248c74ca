"""The Arabic interface in a real browser: headless Chromium driven by
Playwright, against the app of the test database served on a free loopback
port.

Every test checks what an Arabic user would notice first: the page is
right-to-left, the main menu sits on the right, the browser console has no
error, and no request leaves for another host (the ministry intranet has no
internet). Screenshots of the main pages go to test-output/screenshots/.

One browser and one logged-in context serve the whole module (CI has two
cores); each test opens its own page.
"""
import datetime
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tests import factories

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent.parent / "test-output" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                                      "(.ci/run installs it: apt-get install chromium)"),
]


# --- the app on a loopback port, one browser ------------------------------------
@pytest.fixture(scope="module")
def base_url(app):
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, name="browser-test-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()


def _new_context(browser):
    return browser.new_context(viewport={"width": 1366, "height": 900}, locale="ar-EG",
                               timezone_id="Africa/Cairo")


def _login(page, base_url, app, username="admin"):
    page.goto(base_url + "/login/")
    page.fill("#username", username)
    page.fill("#password", app.config["DEMO_PASSWORD"])
    page.click("input[type=submit]")
    page.wait_for_load_state("networkidle")


@pytest.fixture(scope="module")
def admin_context(browser, base_url, app):
    context = _new_context(browser)
    page = context.new_page()
    _login(page, base_url, app)
    assert urlsplit(page.url).path == "/", "admin could not log in"
    page.close()
    yield context
    context.close()


class Watch:
    """What one page did that a user on an intranet would suffer from."""

    def __init__(self, page, base_url):
        self.page, self.origin = page, base_url
        self.console_errors, self.foreign_requests = [], []
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(
            f"{msg.text} ({page.url})"))
        page.on("pageerror", lambda exc: self.console_errors.append(f"{exc} ({page.url})"))
        page.on("request", self._request)

    def _request(self, request):
        url = request.url
        if not url.startswith(self.origin + "/") and not url.startswith(("data:", "blob:", "about:")):
            self.foreign_requests.append(url)

    def open(self, path):
        response = self.page.goto(self.origin + path)
        self.page.wait_for_load_state("networkidle")
        assert response is not None and response.ok, f"{path}: HTTP {response.status if response else '—'}"
        return response

    def assert_clean(self):
        assert not self.console_errors, "console errors:\n" + "\n".join(self.console_errors)
        assert not self.foreign_requests, "requests to other hosts:\n" + "\n".join(self.foreign_requests)


@pytest.fixture()
def watch(admin_context, base_url):
    page = admin_context.new_page()
    watcher = Watch(page, base_url)
    yield watcher
    page.close()


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


# --- what every Arabic page must be ---------------------------------------------
def assert_arabic_layout(page):
    html = page.locator("html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("ar", "rtl"), page.url
    main = page.locator(".navbar-collapse > ul.navbar-nav").first.bounding_box()
    account = page.locator(".navbar-collapse > ul.navbar-right").bounding_box()
    brand = page.locator(".navbar-brand").bounding_box()
    width = page.viewport_size["width"]
    # The brand and the main menu start at the right edge; the language and
    # account menus are at the far (left) end.
    assert brand["x"] > width / 2, f"brand at x={brand['x']} on {page.url}"
    assert main["x"] + main["width"] <= brand["x"] + 1, f"main menu not beside the brand on {page.url}"
    assert main["x"] + main["width"] > width / 2, f"main menu not on the right on {page.url}"
    assert account["x"] < main["x"], f"account menu not left of the main menu on {page.url}"


def _menu_entries(page):
    links = page.locator(".navbar-collapse > ul.navbar-nav:not(.navbar-right) .dropdown-menu a")
    return [(links.nth(i).inner_text().strip(), links.nth(i).get_attribute("href")) for i in range(links.count())]


def _name(path):
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"


# --- the tests --------------------------------------------------------------------
def test_login_page_is_arabic_and_self_contained(browser, base_url, app):
    context = _new_context(browser)
    page = context.new_page()
    watcher = Watch(page, base_url)
    watcher.open("/login/")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert "اسم المستخدم" in page.inner_text("body") and "كلمة المرور" in page.inner_text("body")
    font = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert font.startswith('"IBM Plex Sans Arabic"')
    page.wait_for_function("document.fonts.check('16px \"IBM Plex Sans Arabic\"', 'سجل')")
    shot(page, "login")
    _login(page, base_url, app)
    assert urlsplit(page.url).path == "/"
    assert_arabic_layout(page)
    watcher.assert_clean()
    context.close()


def test_every_menu_entry_opens_in_arabic(watch):
    watch.open("/")
    entries = _menu_entries(watch.page)
    assert len(entries) >= 10, entries
    shot(watch.page, "home")
    for label, href in entries:
        assert not re.search(r"[A-Za-z]{3}", label), f"menu entry not in Arabic: {label!r}"
        watch.open(href)
        assert_arabic_layout(watch.page)
        body = watch.page.inner_text("body")
        assert "Traceback" not in body and "None" not in body, href
        shot(watch.page, _name(urlsplit(href).path))
    watch.assert_clean()


def _arabic_indic(text):
    return text.translate({ord(str(i)): chr(0x0660 + i) for i in range(10)})


def test_add_a_citizen_typed_in_arabic_indic_digits(app, watch):
    nid = factories.national_id(birth=datetime.date(1993, 4, 12), gov="01", gender="M")
    watch.open("/citizenview/add")
    assert_arabic_layout(watch.page)
    watch.page.fill("#national_id", _arabic_indic(nid))
    preview = watch.page.locator("#sijill-nid-preview")
    preview.filter(has_text="1993-04-12").wait_for()
    assert "ذكر" in preview.inner_text()  # "Male", read from the ID
    watch.page.fill("#full_name", "كريم سامي عبد الحميد")
    watch.page.fill("#mobile", _arabic_indic("01012345678"))
    shot(watch.page, "citizen-add")
    watch.page.click("button[type=submit]")
    watch.page.wait_for_load_state("networkidle")
    assert "تمت إضافة السجل" in watch.page.inner_text(".alert-success")  # "Added Row"
    assert_arabic_layout(watch.page)
    from app.extensions import db
    from app.models import Citizen
    with app.app_context():
        saved = db.session.scalars(select(Citizen).where(Citizen.national_id == nid)).one()
        assert (saved.mobile, saved.birth_date) == ("01012345678", datetime.date(1993, 4, 12))
    watch.assert_clean()


def test_a_validation_error_reads_in_arabic(watch):
    watch.open("/citizenview/add")
    watch.page.fill("#national_id", "29002300101234")  # 30 February
    watch.page.fill("#full_name", "محمد")
    watch.page.fill("#mobile", "0123")
    watch.page.click("button[type=submit]")
    watch.page.wait_for_load_state("networkidle")
    assert "لم يتم حفظ السجل" in watch.page.inner_text(".alert-danger >> nth=0")  # "The record was not saved"
    errors = watch.page.inner_text("#model_form") if watch.page.locator("#model_form").count() else \
        watch.page.inner_text("body")
    assert "رقم المحمول المصري 11 رقمًا" in errors or "تاريخ الميلاد" in errors, errors[:500]
    assert not re.search(r"[A-Za-z]{4,}", watch.page.inner_text(".alert-danger >> nth=0"))
    assert_arabic_layout(watch.page)
    shot(watch.page, "citizen-add-errors")
    watch.assert_clean()


def test_list_search_and_filters_with_arabic_indic_digits(app, watch):
    with app.app_context():
        citizen = factories.citizen()
        nid, pk = citizen.national_id, citizen.id
    watch.open("/citizenview/list/")
    watch.page.click("a.accordion-toggle")  # the search panel ("بحث")
    watch.page.click("#filter_form .dropdown-toggle")
    watch.page.click("#filter_form a.filter[name=national_id]")
    watch.page.fill("#filter_form input.filter_val", _arabic_indic(nid))
    shot(watch.page, "citizen-search")
    watch.page.click("#filter_form button[type=submit]")
    watch.page.wait_for_load_state("networkidle")
    rows = watch.page.locator("table.table-hover:not(.filters) > tbody > tr")
    assert rows.count() == 1 and f"/citizenview/show/{pk}" in rows.first.inner_html()
    assert_arabic_layout(watch.page)
    # A date filter opens the Arabic date picker (FAB calls a plugin it does not ship).
    watch.open("/certificateview/list/")
    watch.page.click("a.accordion-toggle")
    watch.page.click("#filter_form .dropdown-toggle")
    watch.page.click("#filter_form a.filter[name=issue_date]")
    watch.page.click("#filter_form .appbuilder_date input")
    picker = watch.page.locator(".datepicker.datepicker-rtl").first
    picker.wait_for()
    assert "يناير" in picker.inner_text() or "ديسمبر" in picker.inner_text() or "نوفمبر" in picker.inner_text()
    watch.page.click(".datepicker-days td.today")
    value = watch.page.input_value("#filter_form .appbuilder_date input")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value), value
    shot(watch.page, "certificate-date-filter")
    watch.assert_clean()


def test_pickers_and_modals_speak_arabic(app, watch):
    with app.app_context():
        factories.certificate(factories.citizen())  # a list with rows, so its actions menu shows
    watch.open("/certificateview/add")
    watch.page.click("#citizen + .select2 .select2-selection")
    dropdown = watch.page.locator(".select2-container--open .select2-results")
    dropdown.filter(has_text="اكتب").wait_for()  # "Type 1 more character(s)"
    assert watch.page.locator(".select2-container--open").first.get_attribute("dir") == "rtl"
    watch.page.keyboard.type("٠٠")  # no citizen's ID starts with 00: the Arabic "no match"
    dropdown.filter(has_text="لا توجد نتائج مطابقة").wait_for()
    watch.page.keyboard.press("Escape")
    watch.open("/certificateview/list/")
    watch.page.click("text=الإجراءات")  # "Actions" menu, nothing ticked
    watch.page.locator(".submit_selected_menu_item").first.click()
    alert = watch.page.locator("#modal-alert")
    alert.filter(has_text="لم يتم تحديد أي سجل").wait_for()
    assert alert.locator("button").inner_text().strip() == "موافق"
    shot(watch.page, "modal-no-row-selected")
    watch.assert_clean()


def test_switch_to_english_and_back(watch):
    watch.open("/citizenview/list/")
    watch.page.click(".sijill-locale-menu > a")
    watch.page.click(".sijill-locale-menu a[hreflang=en]")
    watch.page.wait_for_load_state("networkidle")
    html = watch.page.locator("html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("en", "ltr")
    main = watch.page.locator(".navbar-collapse > ul.navbar-nav").first.bounding_box()
    account = watch.page.locator(".navbar-collapse > ul.navbar-right").bounding_box()
    assert main["x"] < account["x"]  # English: the menu starts on the left
    assert "Citizens" in watch.page.inner_text("body")
    shot(watch.page, "citizens-english")
    watch.open("/")  # the choice sticks across pages
    assert watch.page.locator("html").get_attribute("dir") == "ltr"
    watch.page.click(".sijill-locale-menu > a")
    watch.page.click(".sijill-locale-menu a[hreflang=ar]")
    watch.page.wait_for_load_state("networkidle")
    assert_arabic_layout(watch.page)
    assert "السجلات" in watch.page.inner_text(".navbar")  # "Registers"
    watch.assert_clean()


def test_api_documentation_works_offline(watch):
    watch.open("/swagger/v1")
    watch.page.locator(".swagger-ui .info").wait_for()
    assert_arabic_layout(watch.page)
    shot(watch.page, "swagger")
    watch.assert_clean()
