"""How long the monthly statistics take, on whatever data the database holds.

    SIJILL_INSTANCE_DIR=/tmp/x [DATABASE_URL=postgresql+psycopg2://…] \\
        .venv/bin/python bench/bench_stats.py [--month 2026-11] [--repeat 5]

Prints the size of the source tables, then the compile time of one month
(each compile is rolled back: the database is left as it was) and the time of
the dashboard's reads of that month.

``--synthesize N`` (PostgreSQL only, on a database just made by
``flask sijill init``) first fills it with N citizens, 1.5 N certificates,
0.3 N skill tests and 0.06 N permits spread over three years, by SQL
(generate_series), bypassing the model rules: only for measuring.
"""
import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text  # noqa: E402

SYNTHESIZE = """
INSERT INTO citizen (national_id, full_name, name_normalized, birth_date, gender, birth_governorate,
                     directorate_id, created_at, changed_at, version)
SELECT '3' || lpad(i::text, 13, '0'), 'مواطن تجريبي رقم ' || i, 'مواطن تجريبي رقم ' || i,
       date '1960-01-01' + (random() * 16000)::int, CASE WHEN random() < 0.5 THEN 'M' ELSE 'F' END, '01',
       (SELECT id FROM directorate ORDER BY id OFFSET (i % 27) LIMIT 1), now(), now(), 1
FROM generate_series(1, :n) AS i;

CREATE TEMP TABLE bench_units AS
SELECT row_number() OVER (ORDER BY id) AS k, id FROM occupation WHERE level = 4;

INSERT INTO certificate (kind, citizen_id, occupation_id, skill_level_id, status, issue_date, expiry_date,
                         submitted_at, directorate_id, created_at, changed_at, version)
SELECT kind, c.id, u.id, CASE WHEN kind = 'skill' THEN (SELECT id FROM skill_level ORDER BY id LIMIT 1) END,
       status, CASE WHEN status IN ('issued', 'revoked', 'expired') THEN day END,
       CASE WHEN kind = 'craft' THEN day + 1825 END, day + time '10:00', c.directorate_id, now(), now(), 1
FROM (SELECT i, (ARRAY['registration', 'registration', 'registration', 'skill', 'craft'])[1 + i % 5] AS kind,
             (ARRAY['issued', 'issued', 'issued', 'issued', 'submitted', 'rejected', 'revoked', 'draft'])[1 + i % 8]
                 AS status,
             date '2024-01-01' + (random() * 1095)::int AS day
      FROM generate_series(1, (:n * 3) / 2) AS i) AS g
JOIN citizen c ON c.id = (SELECT min(id) FROM citizen) + (g.i % :n)
JOIN bench_units u ON u.k = 1 + g.i % (SELECT count(*) FROM bench_units);

INSERT INTO skill_test (citizen_id, occupation_id, skill_level_id, test_date, theory_score, practical_score,
                        result, fee_exempt, status, directorate_id, created_at, changed_at, version)
SELECT c.id, u.id, (SELECT id FROM skill_level ORDER BY id OFFSET (g.i % 5) LIMIT 1),
       date '2024-01-01' + (random() * 1095)::int, 70, CASE WHEN g.i % 3 = 0 THEN 40 ELSE 80 END,
       CASE WHEN g.i % 3 = 0 THEN 'fail' ELSE 'pass' END, false, 'issued', c.directorate_id, now(), now(), 1
FROM generate_series(1, (:n * 3) / 10) AS g(i)
JOIN citizen c ON c.id = (SELECT min(id) FROM citizen) + (g.i * 7 % :n)
JOIN bench_units u ON u.k = 1 + g.i % (SELECT count(*) FROM bench_units);

INSERT INTO establishment (name, commercial_register, tax_number, egyptian_workers, directorate_id,
                           created_at, changed_at, version)
SELECT 'منشأة ' || i, 'B' || i, i::text, 1000, (SELECT id FROM directorate ORDER BY id OFFSET (i % 27) LIMIT 1),
       now(), now(), 1
FROM generate_series(1, greatest(:n / 200, 27)) AS i;

INSERT INTO permit (kind, worker_name, passport_number, nationality, birth_date, gender, establishment_id,
                    occupation_id, start_date, end_date, issue_date, submitted_at, status, quota_exception,
                    security_cleared, docs_commercial_register, docs_tax_card, docs_passport, docs_medical,
                    docs_photos, directorate_id, created_at, changed_at, version)
SELECT 'new', 'Worker ' || g.i, 'P' || g.i, (ARRAY['SY', 'SD', 'IN', 'CN', 'PH', 'JO'])[1 + g.i % 6],
       date '1980-01-01' + g.i % 5000, 'M', e.id, u.id, g.day, g.day + 364,
       CASE WHEN g.i % 4 <> 0 THEN g.day END, g.day + time '09:00',
       CASE WHEN g.i % 4 <> 0 THEN 'issued' ELSE 'rejected' END, false, true, true, true, true, true, true,
       e.directorate_id, now(), now(), 1
FROM (SELECT i, date '2024-01-01' + (random() * 1095)::int AS day FROM generate_series(1, (:n * 6) / 100) AS i) g
JOIN establishment e ON e.id = (SELECT min(id) FROM establishment) + (g.i % greatest(:n / 200, 27))
JOIN bench_units u ON u.k = 1 + g.i % (SELECT count(*) FROM bench_units);
ANALYZE;
"""


def synthesize(db, n):
    if db.engine.dialect.name != "postgresql":
        sys.exit("--synthesize needs PostgreSQL")
    started = time.perf_counter()
    with db.engine.begin() as conn:
        for statement in SYNTHESIZE.split(";"):
            if statement.strip():
                conn.execute(text(statement), {"n": n} if ":n" in statement else {})
    print(f"synthesized {n:,} citizens and their records in {time.perf_counter() - started:.0f} s")


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--month", help="YYYY-MM (default: the month before this one)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--synthesize", type=int, default=0, metavar="N")
    args = parser.parse_args()

    from app import create_app, stats
    from app.extensions import db
    from app.models import Certificate, Citizen, Permit, SkillTest
    app = create_app()
    with app.app_context():
        if args.synthesize:
            synthesize(db, args.synthesize)
        month = stats.parse_month(args.month) if args.month else stats.previous_month()
        session = db.session
        sizes = {m.__tablename__: session.scalar(select(func.count()).select_from(m)) for m in
                 (Citizen, Certificate, SkillTest, Permit)}
        print(f"database: {db.engine.dialect.name}; " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))

        rows = []

        def compile_once():
            rows.append(stats.compile_month(session, month).rows)
            session.rollback()
        median, best = timed(compile_once, args.repeat)
        print(f"compile {stats.month_key(month)} (27 directorates, {rows[-1]:,} rows): "
              f"median {median:.0f} ms, best {best:.0f} ms over {args.repeat}")

        stats.compile_month(session, month)  # kept for the reads below, then rolled back
        for name, fn in (
            ("month key figures", lambda: stats.month_kpis(session, month)),
            ("12-month trend", lambda: stats.trend(session, month)),
            ("directorates side by side", lambda: stats.by_directorate(session, month)),
        ):
            median, best = timed(fn, args.repeat)
            print(f"dashboard read, {name}: median {median:.1f} ms, best {best:.1f} ms")
        session.rollback()


if __name__ == "__main__":
    main()
