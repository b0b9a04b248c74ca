"""Imports of the document registers (registration, skill, craft, permits),
the duplicates rules and the near-duplicate queue with its merge, the
occupation coverage per directorate, the templates and the report."""
import datetime
import io
import json

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, inspect as sa_inspect, select

from app import imports
from app.duplicates import LINKED, CitizenDuplicate, DecisionError, mark_different, merge, queue
from app.extensions import db
from app.models import AuditLog, Certificate, Citizen, Permit, SkillTest
from app.occupation_match import LegacyOccupation, coverage_by_directorate, map_name
from app.scope import Scope, ScopeViolation, acting_as, scope_of_user
from tests import factories as f

ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
CERT_HEADER = ["رقم الشهادة", "الرقم القومي", "المهنة", "تاريخ الإصدار", "سنوات الخبرة"]
ELECTRICIAN = "كهربائيو المباني ومن في حكمهم"  # ISCO 7411's Arabic title


def csv_bytes(header, rows, encoding="utf-8-sig"):
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n,,,,\n,,,,\n").encode(encoding)


def xlsx_bytes(header, rows):
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(list(row))
    sheet.append([None] * len(header))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def serial(tag):
    return f"01-2019-{tag}-{f.national_id()[-8:]}"


def cairo():
    return f.directorate("01")


def everything():
    return acting_as(Scope())


def certificates_of(citizen_ids):
    with everything():
        return db.session.scalars(select(Certificate).where(Certificate.citizen_id.in_(citizen_ids))).all()


def test_registration_register_messy_dry_run_commit_reimport(app, ctx):
    a, b = f.citizen(), f.citizen()
    giza = f.citizen("02")
    s1, s2, s3 = serial("REG"), serial("REG"), serial("REG")
    rows = [
        # Arabic-Indic digits in the ID and the date, tatweel and spaces in the occupation
        [s1, a.national_id.translate(ARABIC), "  كهربائيـــو المباني ومن في حكمهم ", "٠٥/٠٣/٢٠١٩", "٣"],
        [s2, b.national_id, ELECTRICIAN, "43831", "2"],  # an Excel date serial (2020-01-01) as text
        [s1, a.national_id, ELECTRICIAN, "2019-03-05", ""],  # repeats the first row
        [s3, "12345", ELECTRICIAN, "2019-03-05", ""],  # a bad ID
        [serial("REG"), giza.national_id, ELECTRICIAN, "2019-03-05", ""],  # Giza's citizen
        [serial("REG"), f.national_id(), ELECTRICIAN, "2019-03-05", ""],  # nobody registered
        [serial("REG"), a.national_id, ELECTRICIAN, "30/02/2019", ""],  # not a date
    ]
    data = csv_bytes(CERT_HEADER, rows)
    dry = imports.run(db.session, "registration", data, "reg.csv", cairo())
    assert (dry.rows_total, dry.valid, dry.created) == (7, 2, 2)
    by_row = {e.row: e for e in dry.errors}
    assert set(by_row) == {4, 5, 6, 7, 8}
    assert "2" in by_row[4].message and by_row[4].column == "رقم الشهادة"
    assert by_row[5].column == "الرقم القومي" and by_row[7].column == "الرقم القومي"
    assert by_row[8].column == "تاريخ الإصدار"
    assert certificates_of([a.id, b.id]) == []  # the dry run wrote nothing
    done = imports.run(db.session, "registration", data, "reg.csv", cairo(), commit=True)
    assert done.created == 2
    certs = {c.serial: c for c in certificates_of([a.id, b.id])}
    assert certs[s1].issue_date == datetime.date(2019, 3, 5) and certs[s1].experience_years == 3
    assert certs[s2].issue_date == datetime.date(2020, 1, 1)
    assert certs[s1].status == "issued" and certs[s1].occupation.code == "7411"
    assert db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.entity == "Certificate", AuditLog.record_id == certs[s1].id, AuditLog.action == "create")) == 1
    again = imports.run(db.session, "registration", data, "reg.csv", cairo(), commit=True)
    assert again.created == 0 and again.unchanged == 2 and len(certificates_of([a.id, b.id])) == 2


def test_skill_register_windows_1256_then_craft_cards_from_xlsx(app, ctx):
    a = f.citizen()
    skill_serial, craft_serial = serial("SKL"), serial("CRF")
    skill = csv_bytes(CERT_HEADER + ["المستوى"], [[skill_serial, a.national_id, ELECTRICIAN, "2018-01-10", "", "3"],
                                                 [serial("SKL"), a.national_id, ELECTRICIAN, "2018-01-10", "", "9"]],
                      encoding="cp1256")
    report = imports.run(db.session, "skill", skill, "skill.csv", cairo(), commit=True)
    assert report.created == 1 and [e.column for e in report.errors] == ["المستوى"]
    craft = xlsx_bytes(CERT_HEADER + ["الرسم"], [
        [craft_serial, int(a.national_id), ELECTRICIAN, 43466, 4, 100],  # a date serial cell: 2019-01-01
        [serial("CRF"), a.national_id, ELECTRICIAN, datetime.datetime(2019, 1, 2), None, 9999],  # fee too high
    ])
    report = imports.run(db.session, "craft", craft, "craft.xlsx", cairo(), commit=True)
    assert report.created == 1 and report.errors[0].column == "الرسم"
    card = next(c for c in certificates_of([a.id]) if c.serial == craft_serial)
    assert card.issue_date == datetime.date(2019, 1, 1) and card.expiry_date == datetime.date(2024, 1, 1)


def test_craft_card_needs_the_skill_certificate_as_the_form_does(app, ctx):
    a = f.citizen()
    craft = csv_bytes(CERT_HEADER, [[serial("CRF"), a.national_id, ELECTRICIAN, "2019-01-01", ""]])
    report = imports.run(db.session, "craft", craft, "c.csv", cairo(), commit=True)
    assert report.created == 0 and report.errors[0].column == "المهنة"
    assert certificates_of([a.id]) == []


def test_permit_register_xlsx_keyed_by_passport_and_start(app, ctx):
    est = f.establishment(workers=1000)
    passport = f"P{f.national_id()[-7:]}"
    header = ["رقم جواز السفر", "اسم العامل", "الجنسية", "تاريخ الميلاد", "السجل التجاري", "كود المهنة",
              "تاريخ البداية", "تاريخ النهاية"]
    rows = [
        [passport.lower(), "John   Smith", "GB", "1985-06-01", est.commercial_register, "2142", 45292, 45600],
        [passport, "John Smith", "GB", "1985-06-01", est.commercial_register, "2142", 45292, 45600],  # same key
        [f"Q{passport[1:]}", "Omar Ali", "الجمهورية العربية السورية", "٠١/٠١/١٩٩٠", est.commercial_register,
         "7411", "2024-02-01", "2024-12-01"],
        [f"R{passport[1:]}", "Li Wei", "CN", "1990-01-01", "99999999999", "7411", "2024-02-01", "2024-12-01"],
        [f"S{passport[1:]}", "Ahmed", "EG", "1990-01-01", est.commercial_register, "7411", "2024-02-01",
         "2024-12-01"],
    ]
    data = xlsx_bytes(header, rows)
    report = imports.run(db.session, "permits", data, "p.xlsx", cairo(), commit=True)
    assert report.created == 2, report.errors
    assert {e.row: e.column for e in report.errors} == {3: "رقم جواز السفر", 5: "السجل التجاري", 6: "الجنسية"}
    with everything():
        permits = db.session.scalars(select(Permit).where(Permit.establishment_id == est.id)).all()
    assert {p.nationality for p in permits} == {"GB", "SY"}
    first = next(p for p in permits if p.nationality == "GB")
    assert first.passport_number == passport and first.start_date == datetime.date(2024, 1, 1)
    assert first.status == "issued" and first.worker_name == "John Smith"
    again = imports.run(db.session, "permits", data, "p.xlsx", cairo(), commit=True)
    assert again.created == 0 and again.unchanged == 2


def test_failure_part_way_leaves_no_document(app, ctx, monkeypatch):
    from app.import_documents import DocumentRows
    people = [f.citizen() for _ in range(6)]
    data = csv_bytes(CERT_HEADER, [[serial("REG"), p.national_id, ELECTRICIAN, "2019-01-01", ""] for p in people])
    real = DocumentRows.build
    calls = {"n": 0}

    def failing(self, *args):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("disk full")
        return real(self, *args)
    monkeypatch.setattr(DocumentRows, "build", failing)
    with pytest.raises(RuntimeError):
        imports.run(db.session, "registration", data, "f.csv", cairo(), commit=True, batch_size=0)
    assert certificates_of([p.id for p in people]) == []
    monkeypatch.setattr(DocumentRows, "build", real)
    assert imports.run(db.session, "registration", data, "f.csv", cairo(), commit=True, batch_size=0).created == 6


def test_unmapped_occupation_waits_then_mapping_brings_the_rows_in(app, ctx):
    people = [f.citizen() for _ in range(3)]
    name = f"صنعة المشربيات {f.national_id()[-5:]}"
    data = csv_bytes(CERT_HEADER, [[serial("REG"), p.national_id, name, "2019-01-01", ""] for p in people])
    first = imports.run(db.session, "registration", data, "o.csv", cairo(), commit=True)
    assert first.created == 0 and all(e.column == "المهنة" for e in first.errors)
    legacy = db.session.scalar(select(LegacyOccupation).where(LegacyOccupation.sample == name))
    assert legacy.row_count == 3 and legacy.occupation_id is None
    share = {d.code: pct for d, _total, _mapped, pct in coverage_by_directorate(db.session)}
    assert share["01"] < 100
    map_name(db.session, legacy.id, f.occupation("7411").id, f.user("admin"))
    db.session.commit()
    second = imports.run(db.session, "registration", data, "o.csv", cairo(), commit=True)
    assert second.created == 3
    assert {c.occupation.code for c in certificates_of([p.id for p in people])} == {"7411"}


def test_same_national_id_updates_by_the_documented_rules(app, ctx):
    c = f.citizen(mobile="01012345678")
    header = ["الرقم القومي", "الاسم رباعي", "المحمول", "العنوان"]
    # the same name with other spellings: nothing to change or report
    same = csv_bytes(header, [[c.national_id, "محمّد احمد على حسن", "", ""]])
    report = imports.run(db.session, "citizens", same, "s.csv", cairo(), commit=True)
    assert report.unchanged == 1 and report.errors == []
    other = csv_bytes(header, [[c.national_id, "سعيد محمود عبد الله", "", "شبرا"]])
    report = imports.run(db.session, "citizens", other, "o.csv", cairo(), commit=True)
    assert report.updated == 1 and report.errors[0].column == "الاسم رباعي"
    db.session.expire_all()
    assert (c.full_name, c.mobile, c.address) == ("محمد أحمد علي حسن", "01012345678", "شبرا")
    with everything():
        assert db.session.scalar(select(func.count(Citizen.id)).where(Citizen.national_id == c.national_id)) == 1


def test_bulk_audit_writes_what_the_flush_hook_writes(app, ctx):
    nid = f.national_id()
    data = csv_bytes(["الرقم القومي", "الاسم رباعي", "المحمول"], [[nid, "محمد أحمد علي حسن", "01012345678"]])
    imports.run(db.session, "citizens", data, "a.csv", cairo(), commit=True)
    with everything():
        imported = db.session.scalar(select(Citizen).where(Citizen.national_id == nid))
    typed = f.citizen(mobile="01012345678")

    def trail(citizen):
        row = db.session.scalar(select(AuditLog).where(AuditLog.entity == "Citizen",
                                                       AuditLog.record_id == citizen.id))
        return row.action, row.directorate_id, json.loads(row.changes)
    action, directorate_id, changes = trail(imported)
    typed_action, typed_directorate, typed_changes = trail(typed)
    assert (action, directorate_id) == (typed_action, typed_directorate) == ("create", imported.directorate_id)
    assert set(changes) == set(typed_changes)
    assert changes["birth_date"] == [None, imported.birth_date.isoformat()]


def _near_duplicate_pair():
    """A citizen with linked records, and an import of the same name and
    birth date under another ID (a typing error)."""
    birth = datetime.date(1979, 4, 9)
    first = f.citizen(national_id=f.national_id(birth), full_name="كريم سامح عادل منصور")
    cert = f.certificate(first)
    test = f.skill_test(first)
    other_id = f.national_id(birth)
    data = csv_bytes(["الرقم القومي", "الاسم رباعي", "المحمول"], [[other_id, "كريم سامح عادل منصور", "01112345678"]])
    report = imports.run(db.session, "citizens", data, "d.csv", cairo(), commit=True)
    assert report.created == 1
    with everything():
        second = db.session.scalar(select(Citizen).where(Citizen.national_id == other_id))
    pair = db.session.scalar(select(CitizenDuplicate).where(CitizenDuplicate.citizen_id == first.id))
    return first, second, cert, test, pair


def test_near_duplicate_is_queued_and_merge_keeps_linked_records(app, ctx):
    first, second, cert, test, pair = _near_duplicate_pair()
    assert pair is not None and pair.other_id == second.id and pair.status == "pending"
    manager = f.user("cairo_manager")
    with acting_as(scope_of_user(manager)):
        assert pair.id in [p.id for p in queue(db.session, manager.directorate_id)]
        # the survivor is the newer record: the first one's documents move to it
        merge(db.session, pair.id, second.id, manager, manager.directorate_id)
        db.session.commit()
    db.session.expire_all()
    assert cert.citizen_id == second.id and test.citizen_id == second.id
    assert first.deleted_at is not None and str(second.national_id) in first.delete_reason
    assert second.mobile == "01112345678"
    moved = db.session.scalar(select(AuditLog).where(AuditLog.entity == "Certificate",
                                                     AuditLog.record_id == cert.id, AuditLog.action == "merge"))
    assert json.loads(moved.changes)["citizen_id"] == [first.id, second.id]
    assert db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.entity == "Certificate", AuditLog.record_id == cert.id)) >= 2  # its history is still there
    with pytest.raises(DecisionError):
        mark_different(db.session, pair.id, manager)


def test_different_people_and_scope_of_the_decision(app, ctx):
    first, second, _cert, _test, pair = _near_duplicate_pair()
    giza = f.user("giza_manager")
    with acting_as(scope_of_user(giza)):
        assert queue(db.session, giza.directorate_id) == [] or pair.id not in [
            p.id for p in queue(db.session, giza.directorate_id)]
        with pytest.raises(DecisionError):
            merge(db.session, pair.id, first.id, giza, giza.directorate_id)
    manager = f.user("cairo_manager")
    mark_different(db.session, pair.id, manager, manager.directorate_id)
    db.session.commit()
    db.session.expire_all()
    assert first.deleted_at is None and second.deleted_at is None and pair.status == "different"
    # a re-import does not propose the pair again
    data = csv_bytes(["الرقم القومي", "الاسم رباعي"], [[second.national_id, second.full_name]])
    imports.run(db.session, "citizens", data, "d2.csv", cairo(), commit=True)
    assert db.session.scalar(select(func.count(CitizenDuplicate.id)).where(
        CitizenDuplicate.citizen_id == first.id)) == 1


def test_merge_relinks_every_table_that_points_at_a_citizen(app, ctx):
    pointing = set()
    from flask_appbuilder import Model
    for table in Model.metadata.tables.values():
        for fk in table.foreign_keys:
            if fk.column.table.name == "citizen" and table.name != "citizen_duplicate":
                pointing.add(table.name)
    assert pointing == {m.__tablename__ for m in LINKED}


def test_manager_imports_documents_into_its_own_directorate_only(app, ctx):
    a = f.citizen()
    data = csv_bytes(CERT_HEADER + ["كود المديرية"], [[serial("REG"), a.national_id, ELECTRICIAN, "2019-01-01", "", "02"]])
    giza = f.user("giza_manager")
    with acting_as(scope_of_user(giza)):
        with pytest.raises(ScopeViolation):
            imports.run(db.session, "registration", data, "g.csv", cairo(), user=giza, commit=True)
    manager = f.user("cairo_manager")
    with acting_as(scope_of_user(manager)):
        report = imports.run(db.session, "registration", data, "g.csv", cairo(), user=manager, commit=True)
    assert report.created == 0 and report.errors[0].column == "كود المديرية"


def test_templates_and_report_are_spreadsheets(app, as_user):
    client = as_user("cairo_manager")
    for kind, first in (("citizens", "الرقم القومي"), ("registration", "رقم الشهادة"), ("skill", "رقم الشهادة"),
                        ("craft", "رقم الشهادة"), ("permits", "رقم جواز السفر")):
        response = client.get(f"/imports/template/{kind}")
        assert response.status_code == 200
        sheet = load_workbook(io.BytesIO(response.data)).active
        assert sheet.cell(1, 1).value == first and sheet.cell(2, 1).value  # header and an example row
    assert client.get("/imports/template/nothing").status_code == 404
    data = csv_bytes(CERT_HEADER, [[serial("REG"), "123", ELECTRICIAN, "2019-01-01", ""]])
    page = client.post("/imports/run", data={"kind": "registration", "action": "dry",
                                             "file": (io.BytesIO(data), "r.csv")}, content_type="multipart/form-data")
    assert page.status_code == 200
    report = client.get(f"/imports/report/registration/{imports.file_hash(data)}")
    sheet = load_workbook(io.BytesIO(report.data)).active
    assert [c.value for c in sheet[2]][:2] == [2, "الرقم القومي"]


def test_web_long_file_commits_in_background_with_progress(app, as_user):
    from app import import_jobs
    with app.app_context():
        ids = [f.national_id(datetime.date(1982, 1, 1) + datetime.timedelta(days=i)) for i in range(30)]
    data = csv_bytes(["الرقم القومي", "الاسم رباعي"], [[i, "محمد أحمد علي حسن"] for i in ids] + [["123", "اسم خطأ ما"]])
    client = as_user("cairo_manager")
    client.post("/imports/run", data={"kind": "citizens", "action": "dry", "file": (io.BytesIO(data), "big.csv")},
                content_type="multipart/form-data")
    app.config["IMPORT_BACKGROUND_ROWS"], app.config["IMPORT_BATCH_SIZE"] = 10, 7
    try:
        answer = client.post("/imports/run", data={"kind": "citizens", "action": "commit", "file_name": "big.csv",
                                                   "file_hash": imports.file_hash(data)})
    finally:
        app.config["IMPORT_BACKGROUND_ROWS"], app.config["IMPORT_BATCH_SIZE"] = 2000, 1000
    assert answer.status_code == 302 and "/imports/batch/" in answer.headers["Location"]
    batch_id = int(answer.headers["Location"].rstrip("/").split("/")[-1])
    import_jobs.wait(batch_id)
    state = client.get(f"/imports/progress/{batch_id}").get_json()
    assert state["status"] == "done" and state["percent"] == 100.0
    assert (state["created"], state["errors"], state["rows_expected"]) == (30, 1, 31)
    page = client.get(f"/imports/batch/{batch_id}").get_data(as_text=True)
    assert 'id="import-result"' in page and 'data-status="done"' in page
    with app.app_context():
        with everything():
            citizens = db.session.scalars(select(Citizen).where(Citizen.national_id.in_(ids))).all()
        assert len(citizens) == 30 and {c.directorate.code for c in citizens} == {"01"}
        trail = db.session.scalar(select(AuditLog).where(AuditLog.entity == "Citizen",
                                                         AuditLog.record_id == citizens[0].id))
        assert trail.username == "cairo_manager"  # the thread acts as the user who committed
    # another directorate's manager does not see the batch
    assert as_user("giza_manager").get(f"/imports/progress/{batch_id}").status_code == 404


def test_web_duplicates_page_and_decision_by_the_manager(app, as_user):
    with app.app_context():
        first, second, cert, _test, pair = _near_duplicate_pair()
        pair_id, first_id, second_id, cert_id = pair.id, first.id, second.id, cert.id
    assert second.national_id in as_user("cairo_manager").get("/imports/duplicates/").get_data(as_text=True)
    assert second.national_id not in as_user("giza_manager").get("/imports/duplicates/").get_data(as_text=True)
    as_user("giza_manager").post(f"/imports/duplicates/{pair_id}", data={"decision": "same", "keep": first_id})
    with app.app_context():
        assert db.session.get(CitizenDuplicate, pair_id).status == "pending"  # not Giza's to decide
    as_user("cairo_manager").post(f"/imports/duplicates/{pair_id}", data={"decision": "same", "keep": first_id})
    with app.app_context():
        with acting_as(Scope()):
            assert db.session.get(CitizenDuplicate, pair_id).status == "same"
            assert db.session.get(Certificate, cert_id).citizen_id == first_id
            merged = db.session.scalar(select(Citizen).where(Citizen.id == second_id)
                                       .execution_options(sijill_include_deleted=True))
            assert merged.deleted_at is not None
    assert as_user("cairo_clerk").get("/imports/duplicates/").status_code in (302, 403)


def test_web_coverage_per_directorate_for_the_admin(app, as_user):
    with app.app_context():
        name = f"حرفة الخيامية {f.national_id()[-5:]}"
        header = ["الرقم القومي", "الاسم رباعي", "المهنة"]
        imports.run(db.session, "citizens", csv_bytes(header, [[f.national_id(), "محمد أحمد علي حسن", name]]),
                    "c.csv", cairo(), commit=True)
    page = as_user("admin").get("/occupation-review/").get_data(as_text=True)
    assert 'id="coverage-by-directorate"' in page and "القاهرة" in page


def test_cli_imports_a_document_register(app, ctx, tmp_path):
    from app.cli import import_command
    a = f.citizen()
    number = serial("REG")
    path = tmp_path / "reg.csv"
    path.write_bytes(csv_bytes(CERT_HEADER, [[number, a.national_id, ELECTRICIAN, "2019-01-01", ""]]))
    runner = app.test_cli_runner()
    result = runner.invoke(import_command, [str(path), "--kind", "registration", "--user", "cairo_manager"])
    assert result.exit_code == 0 and "dry run" in result.output and certificates_of([a.id]) == []
    result = runner.invoke(import_command, [str(path), "--kind", "registration", "--user", "cairo_manager", "--commit"])
    assert result.exit_code == 0, result.output
    assert [c.serial for c in certificates_of([a.id])] == [number]
