"""A list says how many rows it holds without counting a million rows on every page:
exact up to LIST_COUNT_CAP, "more than N" beyond it, always inside the user's scope."""
import re

from sqlalchemy import func, select

from app.extensions import db
from app.models import Citizen
from app.scope import unscoped
from tests import factories as f


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
