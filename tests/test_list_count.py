"""A list says how many rows it holds without counting a million rows on every page:
exact up to LIST_COUNT_CAP, "more than N" beyond it, always inside the user's scope."""
import re

from sqlalchemy import func, select

from app.extensions import db
from app.models import Citizen
from app.scope import unscoped
from tests import factories as f
from tests.conftest import ids_in


def record_count(html):
    m = re.search(r"(?:Record Count|عدد السجلات)\s*:?\s*</strong>\s*([^<]+?)\s*</", html)
    assert m, "the list shows its record count"
    return m.group(1).strip()


def western(text):
    return text.translate(str.maketrans("٠١٢٣٤٥٦٧٨٩٬", "0123456789,")).replace(",", "")


def test_small_list_shows_exact_count_in_scope(app, as_user, ctx):
    f.citizen()
    with unscoped():
        cairo = db.session.scalar(select(func.count()).select_from(Citizen).join(Citizen.directorate)
                                  .where(Citizen.directorate.has(code="01"), Citizen.deleted_at.is_(None)))
    app.config["LIST_COUNT_CAP"] = 100000
    html = as_user("cairo_manager").get("/citizenview/list/").get_data(as_text=True)
    assert western(record_count(html)) == str(cairo)


def test_large_list_says_more_than_the_cap(app, as_user, ctx):
    f.citizen()
    f.citizen()
    old = app.config["LIST_COUNT_CAP"]
    app.config["LIST_COUNT_CAP"] = 1
    try:
        client = as_user("cairo_manager")
        html = client.get("/citizenview/list/").get_data(as_text=True)
        label = record_count(html)
        assert "أكثر من" in label or "more than" in label
        assert western(label).endswith("1")
        # a filter that matches one row is counted exactly
        one = f.citizen()
        html = client.get(f"/citizenview/list/?_flt_0_national_id={one.national_id}").get_data(as_text=True)
        assert western(record_count(html)) == "1"
    finally:
        app.config["LIST_COUNT_CAP"] = old


def filter_menu(html):
    """The columns offered under "Add filter" on a list page."""
    menu = re.search(r'<form id="filter_form".*?</ul>', html, re.S).group(0)
    return re.findall(r'name="([a-z_]+)" class="filter"', menu)


def test_directorate_filter_only_where_there_is_a_choice(app, as_user, ctx):
    # A directorate user has one directorate: no filter offering it.
    manager = as_user("cairo_manager").get("/citizenview/list/").get_data(as_text=True)
    assert "national_id" in filter_menu(manager)
    assert "directorate" not in filter_menu(manager)
    # The ministry chooses among 27.
    ministry = as_user("admin").get("/citizenview/list/").get_data(as_text=True)
    assert "directorate" in filter_menu(ministry)
    # A link that already filters by directorate still shows that filter.
    linked = as_user("cairo_manager").get("/citizenview/list/?_flt_0_directorate=1").get_data(as_text=True)
    assert "directorate" in filter_menu(linked)


def test_name_search_ignores_spelling_variants(app, as_user, ctx):
    c = f.citizen("01", full_name="أحمد مصطفى عبد الحميد زكريا")
    other = f.citizen("01", full_name="كريم مصطفى عبد الحميد زكريا")
    client = as_user("cairo_manager")
    starts = client.get("/citizenview/list/?_flt_0_full_name=احمد مصطفي عبد الحميد").get_data(as_text=True)
    assert c.national_id in starts and other.national_id not in starts
    contains = client.get("/citizenview/list/?_flt_2_full_name=عبد الحميد زكريا").get_data(as_text=True)
    assert c.national_id in contains and other.national_id in contains
    literal = client.get("/citizenview/list/?_flt_0_full_name=%25").get_data(as_text=True)
    assert c.national_id not in literal  # a typed % is a character, not a wildcard


def test_every_page_states_the_same_total(app, as_user, ctx):
    """The last, short page of a list is counted from its rows (no COUNT is
    run there): it must still state the list's whole total, as page one does."""
    prefix = "ثامر" + f.national_id()[-5:]  # a name no other test uses
    for i in range(27):
        f.citizen(full_name=f"{prefix} محمود علي {i}")
    old = app.config["LIST_COUNT_CAP"]
    app.config["LIST_COUNT_CAP"] = 100000
    try:
        client = as_user("cairo_manager")
        base = f"/citizenview/list/?_flt_0_full_name={prefix}"
        first = client.get(base).get_data(as_text=True)
        last = client.get(base + "&page_CitizenView=1").get_data(as_text=True)
        beyond = client.get(base + "&page_CitizenView=4").get_data(as_text=True)
        assert [western(record_count(p)) for p in (first, last, beyond)] == ["27"] * 3
        assert len(ids_in(first)) == 25 and len(ids_in(last)) == 2 and not ids_in(beyond)
        none = client.get("/citizenview/list/?_flt_0_full_name=لايوجداسمكهذا").get_data(as_text=True)
        assert western(record_count(none)) == "0"
    finally:
        app.config["LIST_COUNT_CAP"] = old


def shown_ids(html):
    return list(dict.fromkeys(int(x) for x in re.findall(r"/show/(\d+)", html)))


def test_deep_pages_show_what_offset_paging_shows(app, as_user, ctx, monkeypatch):
    """Deep pages are read ids first (a deferred join): each page must hold
    the same rows in the same order as a plain OFFSET read, and stay in scope."""
    from app.crud import SijillInterface
    prefix = "ناجي" + f.national_id()[-5:]
    for i in range(13):
        f.citizen("01", full_name=f"{prefix} {chr(0x0628 + (i * 7) % 20)} علي")
        f.citizen("21", full_name=f"{prefix} {chr(0x0628 + i)} الجيزة")
    client = as_user("cairo_manager")
    orders = ("", "&_oc_CitizenView=full_name&_od_CitizenView=asc",
              "&_oc_CitizenView=birth_date&_od_CitizenView=desc")
    for order in orders:
        pages = {}
        for threshold in (10 ** 9, 0):
            monkeypatch.setattr(SijillInterface, "DEFERRED_JOIN_FROM", threshold)
            pages[threshold] = [shown_ids(client.get(f"/citizenview/list/?_flt_0_full_name={prefix}"
                                                     f"&psize_CitizenView=5&page_CitizenView={n}{order}")
                                          .get_data(as_text=True)) for n in range(4)]
        assert pages[0] == pages[10 ** 9], order
        assert [len(p) for p in pages[0]] == [5, 5, 3, 0]
    with unscoped():
        seen = {c.directorate.code for c in db.session.scalars(
            select(Citizen).where(Citizen.id.in_([i for p in pages[0] for i in p])))}
    assert seen == {"01"}
