"""Create–read–update through the web screens, as a user does it."""
import datetime
import re

from sqlalchemy import select

from app.extensions import db
from app.models import Citizen, SkillTest
from tests import factories as f


def test_add_citizen_derives_birth_date_gender_governorate(app, as_user, ctx):
    client = as_user("cairo_clerk")
    nid = f.national_id(birth=datetime.date(1991, 7, 3), gov="02", gender="F")
    r = client.post("/citizenview/add", data={"national_id": nid, "full_name": "منى سعيد عبد الله النجار",
                                              "mobile": "01112345678", "directorate": f.directorate("21").id})
    assert r.status_code == 302
    c = db.session.scalar(select(Citizen).where(Citizen.national_id == nid))
    assert (c.birth_date, c.gender, c.birth_governorate) == (datetime.date(1991, 7, 3), "F", "02")
    # a clerk's record lands in the clerk's directorate, whatever the form said
    assert c.directorate.code == "01"
    page = client.get(f"/citizenview/show/{c.id}").get_data(as_text=True)
    assert "1991-07-03" in page and "الإسكندرية" in page


def test_bad_national_id_is_shown_on_the_field_in_arabic(app, as_user, ctx):
    client = as_user("cairo_clerk")
    r = client.post("/citizenview/add", data={"national_id": "29002300101234", "full_name": "محمد علي حسن محمود"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "ليس تاريخًا صحيحًا" in html
    assert db.session.scalar(select(Citizen).where(Citizen.full_name == "محمد علي حسن محمود")) is None


def test_record_a_skill_test_and_see_it_on_the_citizen_page(app, as_user, ctx):
    client = as_user("cairo_clerk")
    c = f.citizen()
    r = client.post("/skilltestview/add", data={
        "citizen": c.id, "occupation": f.occupation("7411").id, "skill_level": f.level(3).id,
        "test_date": datetime.date.today().isoformat(), "theory_score": "75", "practical_score": "81"})
    assert r.status_code == 302, re.findall(r"help-block[^<]*<[^>]*>[^<]*|alert[^>]*>[^<]*<[^<]*", r.get_data(as_text=True))
    test = db.session.scalar(select(SkillTest).where(SkillTest.citizen_id == c.id))
    assert test.result == "pass" and test.status == "draft"
    f.issue(test)
    page = client.get(f"/citizenview/show/{c.id}").get_data(as_text=True)
    assert "SKL" in page  # the skill-level certificate issued by the approval, in the related list


def test_edit_citizen_and_stale_edit_refused(app, as_user, ctx):
    clerk, manager = as_user("cairo_clerk"), as_user("cairo_manager")
    c = f.citizen()
    form = clerk.get(f"/citizenview/edit/{c.id}").get_data(as_text=True)
    version = re.search(r'name="row_version"[^>]*value="(\d+)"', form) or re.search(r'value="(\d+)"[^>]*name="row_version"', form)
    assert version, "the edit form carries the version it shows"
    data = {"full_name": "محمد أحمد علي حسن", "address": "شارع النصر", "row_version": version.group(1)}
    assert manager.post(f"/citizenview/edit/{c.id}", data=dict(data, address="شارع الهرم")).status_code == 302
    r = clerk.post(f"/citizenview/edit/{c.id}", data=data)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "Someone else saved this record" in html or "قام مستخدم آخر" in html
    assert "شارع الهرم" in html  # the form now shows the current values
    db.session.expire_all()
    assert db.session.get(Citizen, c.id).address == "شارع الهرم"


def test_picker_searches_on_the_server(app, as_user, ctx):
    c = f.citizen()
    client = as_user("cairo_clerk")
    r = client.get(f"/picker/citizen?q={c.national_id[:13]}").get_json()
    assert c.id in [row["id"] for row in r["results"]]
    add_form = client.get("/certificateview/add").get_data(as_text=True)
    start = add_form.index('name="citizen"')
    citizen_select = add_form[start:add_form.index("</select>", start)]
    assert citizen_select.count("<option") <= 1  # no whole-table drop-down: rows come from /picker


def test_picker_prefixes_find_exactly_the_ids_that_start_with_them(app, as_user, ctx):
    """Short prefixes, prefixes ending in 9, Arabic-Indic digits: the
    picker's range search finds every ID starting with the typed digits in
    the user's directorate, in ID order, and nothing else."""
    import datetime
    ours = [f.citizen(national_id=f.national_id(datetime.date(1999, 12, 31), gender=g)) for g in "MF"]
    ours += [f.citizen(national_id=f.national_id(datetime.date(1990, 9, 9)))]
    giza = f.citizen("21", national_id=f.national_id(datetime.date(1999, 12, 31)))
    client = as_user("cairo_clerk")

    def picked(q):
        found, page = [], 1
        while True:
            r = client.get(f"/picker/citizen?q={q}&page={page}").get_json()
            found += [row["text"] for row in r["results"]]
            if not r["pagination"]["more"] or page == 50:
                return found
            page += 1
    for c in ours:
        for n in (13, 10, 7):
            prefix = c.national_id[:n]
            texts = picked(prefix)
            assert any(c.national_id in t for t in texts), prefix
            ids = [t.rsplit("(", 1)[-1].rstrip(")") for t in texts]
            assert all(i.startswith(prefix) for i in ids) and ids == sorted(ids), prefix
            assert not any(giza.national_id in t for t in texts)
    arabic = ours[0].national_id[:9].translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert any(ours[0].national_id in t for t in picked(arabic))


def test_optional_choices_say_none_in_words(app, as_user, ctx):
    """An optional drop-down (a certificate's skill level) offers "no choice"
    in words, not WTForms' internal value."""
    for path in ("/certificateview/add", "/skilltestview/list/"):
        html = as_user("cairo_clerk").get(path).get_data(as_text=True)
        assert ">__None<" not in html, path
    assert "— بدون —" in as_user("cairo_clerk").get("/certificateview/add").get_data(as_text=True)


def test_every_list_and_form_renders(app, as_user, ctx):
    client = as_user("admin")
    for view in ("citizenview", "establishmentview", "certificateview", "skilltestview", "permitview",
                 "occupationview", "skilllevelview", "directorateview", "auditlogview"):
        assert client.get(f"/{view}/list/").status_code == 200, view
    for view in ("citizenview", "establishmentview", "certificateview", "skilltestview", "permitview"):
        assert client.get(f"/{view}/add").status_code == 200, view
