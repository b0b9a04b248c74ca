"""Validated rows per second of a citizens' register import into PostgreSQL.

Measured 2026-12-04 (2 cores shared with other sessions, load ~3–4):
dry run 18,780 rows/s, commit 5,857 rows/s (100,000 citizens).

    .venv/bin/python bench/bench_import.py [--rows 100000] \\
        [--database-url postgresql+psycopg2://postgres@127.0.0.1:5432/sijill_imports_bench] [--json]

Generates N citizen rows with valid national IDs into a CSV (bench/data/),
makes the database fresh (drop + create + `flask sijill init`), then times a
dry run and a commit of the file through app/imports.run: every row through
the model rules, in batches of IMPORT_BATCH_SIZE with a checkpoint.
With --json the last line is {"rows_per_s": x, "dry_run_rows_per_s": y}.
Target: at least 5,000 rows/s.
"""
import argparse
import datetime
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/sijill_imports_bench"
NAMES = ("محمد", "أحمد", "علي", "حسن", "محمود", "فاطمة", "سيد", "إبراهيم", "منى", "عبد الله")


def generate(path, rows):
    from app.national_id import make_national_id
    start = datetime.date(1960, 1, 1)
    with open(path, "w", encoding="utf-8-sig") as out:
        out.write("الرقم القومي,الاسم رباعي,المحمول,العنوان\n")
        for i in range(rows):
            birth = start + datetime.timedelta(days=i % 15000)
            nid = make_national_id(birth, "01", i // 15000 + 1, "M" if i % 2 else "F")
            # five names, unique per row: (name, birth date) pairs never repeat,
            # as in a real register (a near-duplicate is the exception there)
            name = " ".join(NAMES[(i // 10 ** k) % 10] for k in range(5))
            out.write(f"{nid},{name},010{i % 100000000:08d},القاهرة\n")


def fresh_database(url):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}"'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    data_dir = ROOT / "bench" / "data"
    data_dir.mkdir(exist_ok=True)
    path = data_dir / f"citizens_{args.rows}.csv"
    if not path.exists():
        generate(path, args.rows)
    fresh_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("SIJILL_INSTANCE_DIR", tempfile.mkdtemp(prefix="sijill-bench-"))
    from app import create_app
    app = create_app()
    with app.app_context():
        from app.cli import init
        result = app.test_cli_runner().invoke(init, [])
        assert result.exit_code == 0, result.output
        from sqlalchemy import select
        from app import imports
        from app.extensions import db
        from app.models import Directorate
        cairo = db.session.scalar(select(Directorate).where(Directorate.code == "01"))
        data = path.read_bytes()
        dry = imports.run(db.session, "citizens", data, path.name, cairo, batch_size=args.batch_size)
        print(f"dry run: {dry.rows_total} rows, {dry.valid} valid in {dry.seconds:.1f}s "
              f"= {dry.rows_per_s:.0f} rows/s")
        done = imports.run(db.session, "citizens", data, path.name, cairo, commit=True,
                           batch_size=args.batch_size)
        print(f"commit:  {done.rows_total} rows, {done.created} created in {done.seconds:.1f}s "
              f"= {done.rows_per_s:.0f} rows/s")
    if args.json:
        print(json.dumps({"rows_per_s": round(done.rows_per_s, 1),
                          "dry_run_rows_per_s": round(dry.rows_per_s, 1)}))


if __name__ == "__main__":
    main()
