"""Imports of register files: messy input, dry run, commit, re-import,
all-or-nothing, scope, occupation names."""
import datetime
import io
import os
import signal
import subprocess
import sys
import time

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app import imports
from app.extensions import db
from app.imports import ImportBatch
from app.models import Citizen
from app.occupation_match import LegacyOccupation, Matcher, map_name, review_queue
from app.scope import Scope, ScopeViolation, acting_as, scope_of_user
from tests import factories as f

HEADER = "الرقم القومي,الاسم رباعي,المحمول,العنوان,المهنة\n"
ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def count(ids):
    with acting_as(Scope()):
        return db.session.scalar(select(func.count(Citizen.id)).where(Citizen.national_id.in_(ids)))


def messy_csv(ids, encoding="utf-8-sig"):
    """Arabic-Indic digits (Windows-1256 has none: western there), tatweel,
    stray spaces, a bad ID, an in-file duplicate and empty trailing rows."""
    digits = ARABIC_DIGITS if encoding.startswith("utf") else {}
    lines = [HEADER,
             f"{ids[0].translate(digits)},  محمـــد   أحمد علي حسن ,{'01012345678'.translate(digits)},شبرا,كهربائى\n",
             f" {ids[1]} ,فاطمة محمود سيد علي,01112345678,,كهربائي منازل\n",
             "12345,اسم غير صحيح للمواطن,,,\n",
             f"{ids[0]},محمد أحمد علي حسن,,,\n",
             ",,,,\n", ",,,,\n"]
    return "".join(lines).encode(encoding)


def directorate(code="01"):
    return f.directorate(code)


def test_messy_utf8_dry_run_reports_and_writes_nothing(app, ctx):
    ids = [f.national_id(), f.national_id()]
    report = imports.run(db.session, "citizens", messy_csv(ids), "x.csv", directorate())
    assert report.rows_total == 4  # empty trailing rows ignored
    assert report.valid == 2 and report.created == 2
    rows = {(e.row, e.column) for e in report.errors}
    assert (4, "الرقم القومي") in rows or any(e.row == 4 for e in report.errors)
    assert any(e.row == 5 and "2" in e.message for e in report.errors)  # repeats row 2
    assert count(ids) == 0
    assert db.session.scalar(select(func.count(ImportBatch.id))) is not None


def test_commit_cleans_values_and_reimport_creates_nothing(app, ctx):
    ids = [f.national_id(), f.national_id()]
    data = messy_csv(ids)
    first = imports.run(db.session, "citizens", data, "x.csv", directorate(), commit=True)
    assert first.created == 2 and count(ids) == 2
    with acting_as(Scope()):
        c = db.session.scalar(select(Citizen).where(Citizen.national_id == ids[0]))
        assert c.full_name == "محمد أحمد علي حسن" and c.mobile == "01012345678"
    again = imports.run(db.session, "citizens", data, "x.csv", directorate(), commit=True)
    assert again.created == 0 and again.unchanged == 2 and count(ids) == 2


def test_windows_1256_file(app, ctx):
    ids = [f.national_id(), f.national_id()]
    report = imports.run(db.session, "citizens", messy_csv(ids, "cp1256"), "x.csv", directorate(), commit=True)
    assert report.created == 2
    with acting_as(Scope()):
        names = db.session.scalars(select(Citizen.full_name).where(Citizen.national_id.in_(ids))).all()
    assert "فاطمة محمود سيد علي" in names


def test_xlsx_with_numbers_and_dates(app, ctx):
    ids = [f.national_id(), f.national_id()]
    wb = Workbook()
    ws = wb.active
    ws.append(["National ID", "Full name", "Mobile"])
    ws.append([int(ids[0]), "سعيد عبد الله محمد", 1012345678.0])
    ws.append([ids[1], "منى ابراهيم احمد", None])
    ws.append([None, None, None])
    buf = io.BytesIO()
    wb.save(buf)
    report = imports.run(db.session, "citizens", buf.getvalue(), "x.xlsx", directorate(), commit=True)
    assert report.created == 2 and count(ids) == 2
    assert imports.parse_date(45658) == datetime.date(2025, 1, 1)
    assert imports.parse_date("٠٥/٠٣/٢٠٢٠") == datetime.date(2020, 3, 5)
    assert imports.parse_date(datetime.datetime(2020, 1, 2, 0, 0)) == datetime.date(2020, 1, 2)


def test_update_rule_fills_but_never_erases(app, ctx):
    c = f.citizen(mobile="01012345678", address="شبرا")
    data = (HEADER + f"{c.national_id},{c.full_name},01198765432,,\n").encode()
    report = imports.run(db.session, "citizens", data, "u.csv", directorate(), commit=True)
    assert report.updated == 1
    db.session.expire_all()
    assert (c.mobile, c.address) == ("01198765432", "شبرا")


def test_failure_part_way_leaves_nothing_in_one_transaction(app, ctx, monkeypatch):
    ids = [f.national_id() for _ in range(30)]
    data = (HEADER + "".join(f"{i},محمد أحمد علي حسن,,,\n" for i in ids)).encode()
    real = imports.CitizenRows.build
    calls = {"n": 0}

    def failing(self, *args):
        calls["n"] += 1
        if calls["n"] == 25:
            raise RuntimeError("disk full")
        return real(self, *args)
    monkeypatch.setattr(imports.CitizenRows, "build", failing)
    with pytest.raises(RuntimeError):
        imports.run(db.session, "citizens", data, "f.csv", directorate(), commit=True, batch_size=0)
    assert count(ids) == 0
    monkeypatch.setattr(imports.CitizenRows, "build", real)
    report = imports.run(db.session, "citizens", data, "f.csv", directorate(), commit=True, batch_size=0)
    assert report.created == 30 and count(ids) == 30


def test_batches_resume_after_checkpoint(app, ctx, monkeypatch):
    ids = [f.national_id() for _ in range(25)]
    data = (HEADER + "".join(f"{i},محمد أحمد علي حسن,,,\n" for i in ids)).encode()
    real = imports.CitizenRows.build
    calls = {"n": 0}

    def failing(self, *args):
        calls["n"] += 1
        if calls["n"] == 15:
            raise RuntimeError("killed")
        return real(self, *args)
    monkeypatch.setattr(imports.CitizenRows, "build", failing)
    with pytest.raises(RuntimeError):
        imports.run(db.session, "citizens", data, "b.csv", directorate(), commit=True, batch_size=10)
    assert count(ids) == 10  # first batch committed with its checkpoint
    batch = db.session.scalar(select(ImportBatch).where(ImportBatch.file_hash == imports.file_hash(data)))
    assert batch.status == imports.FAILED and batch.rows_done == 11  # header + 10 rows
    monkeypatch.setattr(imports.CitizenRows, "build", real)
    report = imports.run(db.session, "citizens", data, "b.csv", directorate(), commit=True, batch_size=10)
    assert report.resumed_from == 11 and count(ids) == 25 and report.created == 25


def test_manager_cannot_import_rows_of_another_directorate(app, ctx):
    ids = [f.national_id(), f.national_id()]
    data = ("الرقم القومي,الاسم رباعي,كود المديرية\n"
            f"{ids[0]},محمد أحمد علي حسن,01\n{ids[1]},محمد أحمد علي حسن,02\n").encode()
    manager = f.user("cairo_manager")
    with acting_as(scope_of_user(manager)):
        report = imports.run(db.session, "citizens", data, "s.csv", directorate("01"), user=manager, commit=True)
        assert report.created == 1 and any(e.row == 3 for e in report.errors)
        # the session's scope refuses a write into Giza whatever the caller asks
        with pytest.raises(ScopeViolation):
            imports.run(db.session, "citizens", data[:data.index(b"\n") + 1] +
                        f"{f.national_id()},محمد أحمد علي حسن,02\n".encode(),
                        "s2.csv", directorate("02"), user=manager, commit=True)
    assert count(ids) == 1


def test_citizen_of_another_directorate_is_reported_not_changed(app, ctx):
    giza = f.citizen("02")
    data = (HEADER + f"{giza.national_id},علي علي علي علي,,,\n").encode()
    report = imports.run(db.session, "citizens", data, "o.csv", directorate("01"), commit=True)
    assert report.created == 0 and len(report.errors) == 1
    db.session.expire_all()
    assert giza.full_name == "محمد أحمد علي حسن"


def test_missing_column_is_a_clear_error(app, ctx):
    with pytest.raises(imports.ImportError_, match="الاسم رباعي|Missing"):
        imports.run(db.session, "citizens", "الرقم القومي\n1\n".encode(), "m.csv", directorate())


def test_occupation_matching_and_review_queue(app, ctx):
    m = Matcher(db.session)
    occ = f.occupation("7411")
    assert m.match(occ.title_ar).method == "exact"
    assert m.match(occ.title_ar.replace("ي", "ى") + " ").occupation_id == occ.id
    unknown = "صنعة قديمة جدا لا مثيل لها"
    assert m.match(unknown).occupation_id is None
    ids = [f.national_id() for _ in range(3)]
    data = (HEADER + "".join(f"{i},محمد أحمد علي حسن,,,{unknown}\n" for i in ids)).encode()
    imports.run(db.session, "citizens", data, "occ.csv", directorate(), commit=True)
    queue = review_queue(db.session)
    row = next(r for r in queue if r.sample == unknown)
    assert row.row_count >= 3
    map_name(db.session, row.id, occ.id, f.user("admin"))
    db.session.commit()
    assert Matcher(db.session).match(unknown + "ـ").method == "legacy"
    assert row.id not in [r.id for r in review_queue(db.session)]


def test_cli_dry_run_then_commit(app, ctx, tmp_path):
    from app.cli import import_command
    ids = [f.national_id(), f.national_id()]
    path = tmp_path / "c.csv"
    path.write_bytes(messy_csv(ids))
    runner = app.test_cli_runner()
    result = runner.invoke(import_command, [str(path), "--kind", "citizens", "--user", "cairo_manager"])
    assert result.exit_code == 0, result.output
    assert "dry run" in result.output and count(ids) == 0
    result = runner.invoke(import_command, [str(path), "--kind", "citizens", "--user", "cairo_manager",
                                            "--commit", "--report", str(tmp_path / "r.csv")])
    assert result.exit_code == 0, result.output
    assert count(ids) == 2 and "\n4,الرقم القومي," in (tmp_path / "r.csv").read_text("utf-8-sig")
    result = runner.invoke(import_command, [str(path), "--kind", "citizens", "--user", "cairo_manager",
                                            "--directorate", "02"])
    assert result.exit_code != 0


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
                    reason="SIGKILL drill on PostgreSQL")
def test_sigkill_mid_import_leaves_consistent_checkpoint(app, ctx, tmp_path):
    # births of the 1970s: no other test makes these IDs
    ids = [f.national_id(datetime.date(1970, 1, 1) + datetime.timedelta(days=i % 3000)) for i in range(6000)]
    path = tmp_path / "big.csv"
    path.write_bytes((HEADER + "".join(f"{i},محمد أحمد علي حسن,,,\n" for i in ids)).encode())
    env = dict(os.environ, DATABASE_URL=os.environ["TEST_DATABASE_URL"], FLASK_APP="run.py")
    cmd = [sys.executable, "-m", "flask", "sijill", "import", str(path), "--kind", "citizens",
           "--directorate", "01", "--commit", "--batch-size", "500"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline and count(ids) < 1000:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    db.session.rollback()
    batch = db.session.scalar(select(ImportBatch).where(
        ImportBatch.file_hash == imports.file_hash(path.read_bytes())))
    done = count(ids)
    assert 0 < done < 6000
    assert done == batch.rows_done - 1  # exactly the checkpointed rows, no partial batch
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert count(ids) == 6000


def test_web_dry_run_then_commit_by_manager_and_clerk_refused(app, as_user):
    ids = [f.national_id(), f.national_id()]
    client = as_user("cairo_manager")
    assert client.get("/imports/").status_code == 200
    template = client.get("/imports/template/citizens")
    assert load_workbook(io.BytesIO(template.data)).active.cell(1, 1).value == "الرقم القومي"
    page = client.post("/imports/run", data={"kind": "citizens", "action": "dry",
                                             "file": (io.BytesIO(messy_csv(ids)), "r.csv")},
                       content_type="multipart/form-data")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "file_hash" in html
    digest = imports.file_hash(messy_csv(ids))
    with app.app_context():
        assert count(ids) == 0
    report = client.get(f"/imports/report/citizens/{digest}")
    assert report.status_code == 200
    assert [c.value for c in load_workbook(io.BytesIO(report.data)).active[2]][0] == 4
    done = client.post("/imports/run", data={"kind": "citizens", "action": "commit", "file_hash": digest,
                                             "file_name": "r.csv", "directorate": "02"})
    assert done.status_code == 200
    with app.app_context():
        assert count(ids) == 2
        with acting_as(Scope()):
            assert {c.directorate.code for c in db.session.scalars(
                select(Citizen).where(Citizen.national_id.in_(ids)))} == {"01"}  # its own, not Giza
    assert as_user("cairo_clerk").get("/imports/").status_code in (302, 403)


def test_web_occupation_review_for_admin_only(app, as_user):
    with app.app_context():
        name = f"حرفة نادرة {f.national_id()}"
        ids = [f.national_id(), f.national_id()]
        imports.run(db.session, "citizens", (HEADER + "".join(f"{i},محمد أحمد علي حسن,,,{name}\n" for i in ids)).encode(),
                    "o.csv", directorate(), commit=True)
        row = db.session.scalar(select(LegacyOccupation).where(LegacyOccupation.sample == name))
        row_id = row.id
    admin = as_user("admin")
    page = admin.get("/occupation-review/")
    assert page.status_code == 200 and name in page.get_data(as_text=True)
    admin.post(f"/occupation-review/map/{row_id}", data={"code": "7411"})
    with app.app_context():
        assert db.session.get(LegacyOccupation, row_id).occupation_id == f.occupation("7411").id
    assert name not in admin.get("/occupation-review/").get_data(as_text=True)
    assert as_user("cairo_manager").get("/occupation-review/").status_code in (302, 403)
