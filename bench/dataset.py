"""The synthetic national dataset of `make bench`, loaded with COPY.

N citizens, 1.5 N certificates, 0.4 N skill tests, 0.1 N foreign permits (and
N / 200 establishments), spread over the 27 directorates in proportion to the
governorates' populations (CAPMAS 2023 estimates: Cairo and Giza largest, South
Sinai smallest), so a Cairo manager's list is about 90 times a South Sinai one.
National IDs are well formed (birth date, governorate, gender and check digit
agree, app/national_id.py), names are drawn from common Egyptian names and
normalised the way the app normalises them, issued documents carry serials in
the app's format and the serial counters continue after them.

Rows bypass the model rules and the audit trail: this is for measuring only.
Usage (on a database made by `flask sijill init`):

    python bench/dataset.py --citizens 1000000 [--database-url postgresql://…]
"""
import argparse
import datetime
import io
import os
import random
import sys
import time
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.arabic import normalize_name  # noqa: E402
from app.national_id import make_national_id  # noqa: E402

# Population in thousands by national-ID governorate code (CAPMAS, 2023).
POPULATION = {
    "01": 10300, "21": 9400, "13": 7900, "12": 7100, "18": 7000, "24": 6300, "14": 6000, "26": 5800,
    "02": 5500, "16": 5300, "25": 4900, "17": 4700, "23": 3900, "15": 3700, "27": 3600, "22": 3500,
    "28": 1600, "11": 1600, "19": 1400, "29": 1400, "03": 800, "04": 800, "33": 500, "34": 500,
    "31": 400, "32": 260, "35": 110,
}
MALE = ["محمد", "أحمد", "محمود", "مصطفى", "علي", "حسن", "حسين", "إبراهيم", "عبد الله", "عمر", "خالد",
        "يوسف", "سيد", "عبد الرحمن", "طارق", "كريم", "وليد", "هشام", "عادل", "سامح", "رامي", "ياسر"]
FEMALE = ["فاطمة", "مريم", "آية", "نورهان", "سارة", "منى", "هدى", "أسماء", "زينب", "شيماء", "دينا",
          "هبة", "رحاب", "نادية", "سلمى", "إيمان", "ريهام", "ياسمين", "أميرة", "نهى"]
FAMILY = ["السيد", "عبد العزيز", "الشافعي", "المصري", "عثمان", "سليمان", "النجار", "الشريف", "فتحي",
          "رمضان", "البدري", "عبد الحميد", "الجمال", "منصور", "حجازي", "زكي", "شاهين", "الحسيني"]
NATIONALITIES = ["SY", "SD", "IN", "CN", "PH", "JO", "PS", "YE", "BD", "TR"]
DAYS = 16000            # birth dates over ~44 years; (day, serial) makes every ID unique
BIRTH0 = datetime.date(1962, 1, 1)
ISSUE0 = datetime.date(2024, 1, 1)
CHUNK = 200_000
NOW = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def weighted_codes(rng, n):
    codes = list(POPULATION)
    return rng.choices(codes, weights=[POPULATION[c] for c in codes], k=n)


def copy_rows(cur, table, columns, rows):
    """COPY rows (tuples of str/None) into table, CHUNK rows per round trip."""
    buf, count = io.StringIO(), 0
    for row in rows:
        buf.write("\t".join("\\N" if v is None else v for v in row))
        buf.write("\n")
        count += 1
        if count % CHUNK == 0:
            buf.seek(0)
            cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buf)
            buf = io.StringIO()
    buf.seek(0)
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buf)
    return count


def citizens(rng, n, directorate, taken=frozenset()):
    """taken: national IDs already in the database (the demo data's), skipped."""
    for i, code in enumerate(weighted_codes(rng, n)):
        gender = "M" if rng.random() < 0.5 else "F"
        birth = BIRTH0 + datetime.timedelta(days=i % DAYS)
        first = rng.choice(MALE if gender == "M" else FEMALE)
        name = f"{first} {rng.choice(MALE)} {rng.choice(FAMILY)}"
        born = code if rng.random() < 0.85 else rng.choice(list(POPULATION))
        national_id = make_national_id(birth, born, i // DAYS, gender)
        if national_id in taken:
            continue
        yield (national_id, name, normalize_name(name), birth.isoformat(),
               gender, born, str(directorate[code]), NOW, NOW, "1")


def documents(rng, count, citizen_rows, units, levels, code_of, counters):
    """Certificates: 60 % registration, 20 % skill, 20 % craft card; most issued."""
    kinds = ["registration", "registration", "registration", "skill", "craft"]
    statuses = ["issued"] * 5 + ["submitted", "draft", "rejected", "revoked", "expired"]
    doc_type = {"registration": "REG", "skill": "SKL", "craft": "CRF"}
    for i in range(count):
        citizen_id, directorate_id = citizen_rows[rng.randrange(len(citizen_rows))]
        kind, status = kinds[i % 5], rng.choice(statuses)
        day = ISSUE0 + datetime.timedelta(days=rng.randrange(1060))
        serial = issue = expiry = None
        if status in ("issued", "revoked", "expired"):
            issue = day.isoformat()
            key = (directorate_id, doc_type[kind], day.year)
            counters[key] = counters.get(key, 0) + 1
            serial = f"{code_of[directorate_id]}-{day.year}-{doc_type[kind]}-{counters[key]:06d}"
            if kind == "craft":
                expiry = (day + datetime.timedelta(days=1825)).isoformat()
        level = str(rng.choice(levels)) if kind == "skill" else None
        yield (kind, serial, str(citizen_id), str(rng.choice(units)), level, status, issue, expiry,
               f"{day.isoformat()} 10:00:00", str(directorate_id), NOW, NOW, "1")


def skill_tests(rng, count, citizen_rows, units, levels):
    for _ in range(count):
        citizen_id, directorate_id = citizen_rows[rng.randrange(len(citizen_rows))]
        passed = rng.random() < 0.7
        day = ISSUE0 + datetime.timedelta(days=rng.randrange(1060))
        yield (str(citizen_id), str(rng.choice(units)), str(rng.choice(levels)), day.isoformat(),
               str(rng.randint(50, 100)), str(rng.randint(60, 100) if passed else rng.randint(10, 49)),
               "pass" if passed else "fail", "f", "issued", str(directorate_id), NOW, NOW, "1")


def establishments(rng, count, directorate):
    for i, code in enumerate(weighted_codes(rng, count)):
        yield (f"منشأة {rng.choice(FAMILY)} رقم {i + 1}", f"CR{i + 1:08d}", f"{100000000 + i}",
               str(rng.randint(20, 2000)), str(directorate[code]), NOW, NOW, "1")


def permits(rng, count, est_rows, units, code_of, counters):
    for i in range(count):
        est_id, directorate_id = est_rows[rng.randrange(len(est_rows))]
        day = ISSUE0 + datetime.timedelta(days=rng.randrange(1060))
        issued = rng.random() < 0.8
        serial = None
        if issued:
            key = (directorate_id, "PRM", day.year)
            counters[key] = counters.get(key, 0) + 1
            serial = f"{code_of[directorate_id]}-{day.year}-PRM-{counters[key]:06d}"
        yield (serial, "new", f"Worker {i + 1}", f"P{i + 1:08d}", rng.choice(NATIONALITIES),
               (datetime.date(1975, 1, 1) + datetime.timedelta(days=rng.randrange(9000))).isoformat(),
               "M" if rng.random() < 0.8 else "F", str(est_id), str(rng.choice(units)), day.isoformat(),
               (day + datetime.timedelta(days=364)).isoformat(), day.isoformat() if issued else None,
               "f", "t", "t", "t", "t", "t", "t", f"{day.isoformat()} 09:00:00",
               "issued" if issued else "submitted", str(directorate_id), NOW, NOW, "1")


BIG_TABLES = ("citizen", "certificate", "skill_test", "permit", "establishment")


def drop_secondary_indexes(cur):
    """Drop the big tables' plain indexes (not primary keys or unique
    constraints) and return their definitions: building an index once after
    the load is several times faster than maintaining it row by row."""
    cur.execute("""SELECT i.indexname, i.indexdef FROM pg_indexes i
                   WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
                (list(BIG_TABLES),))
    definitions = cur.fetchall()
    for name, _definition in definitions:
        cur.execute(f'DROP INDEX "{name}"')
    return [definition for _name, definition in definitions]


def build(dsn, n, seed=2026):
    rng = random.Random(seed)
    conn = psycopg2.connect(dsn)
    cur = conn.cursor()
    cur.execute("SELECT id, code FROM directorate")
    directorate = {code: id_ for id_, code in cur.fetchall()}
    code_of = {id_: code for code, id_ in directorate.items()}
    cur.execute("SELECT id FROM occupation WHERE level = 4")
    units = [r[0] for r in cur.fetchall()]
    cur.execute("SELECT id FROM skill_level")
    levels = [r[0] for r in cur.fetchall()]
    cur.execute("SELECT coalesce(max(id), 0) FROM citizen")
    before = cur.fetchone()[0]
    cur.execute("SELECT national_id FROM citizen")
    taken = {r[0] for r in cur.fetchall()}
    counters = {}
    cur.execute("SELECT directorate_id, doc_type, year, last FROM serial_counter")
    for d, t, y, last in cur.fetchall():
        counters[(d, t, y)] = last

    def step(label, fn):
        started = time.perf_counter()
        rows = fn()
        print(f"  {label}: {rows:,} {'indexes' if label.startswith('indexes') else 'rows'} in {time.perf_counter() - started:.1f} s", flush=True)

    started = time.perf_counter()
    cur.execute("SET maintenance_work_mem = '512MB'")
    indexes = drop_secondary_indexes(cur)
    step("citizens", lambda: copy_rows(cur, "citizen", (
        "national_id", "full_name", "name_normalized", "birth_date", "gender", "birth_governorate",
        "directorate_id", "created_at", "changed_at", "version"), citizens(rng, n, directorate, taken)))
    cur.execute("SELECT id, directorate_id FROM citizen WHERE id > %s", (before,))
    citizen_rows = cur.fetchall()
    step("certificates", lambda: copy_rows(cur, "certificate", (
        "kind", "serial", "citizen_id", "occupation_id", "skill_level_id", "status", "issue_date",
        "expiry_date", "submitted_at", "directorate_id", "created_at", "changed_at", "version"),
        documents(rng, n * 3 // 2, citizen_rows, units, levels, code_of, counters)))
    step("skill tests", lambda: copy_rows(cur, "skill_test", (
        "citizen_id", "occupation_id", "skill_level_id", "test_date", "theory_score", "practical_score",
        "result", "fee_exempt", "status", "directorate_id", "created_at", "changed_at", "version"),
        skill_tests(rng, n * 2 // 5, citizen_rows, units, levels)))
    cur.execute("SELECT coalesce(max(id), 0) FROM establishment")
    est_before = cur.fetchone()[0]
    step("establishments", lambda: copy_rows(cur, "establishment", (
        "name", "commercial_register", "tax_number", "egyptian_workers", "directorate_id", "created_at",
        "changed_at", "version"), establishments(rng, max(n // 200, 27), directorate)))
    cur.execute("SELECT id, directorate_id FROM establishment WHERE id > %s", (est_before,))
    est_rows = cur.fetchall()
    step("permits", lambda: copy_rows(cur, "permit", (
        "serial", "kind", "worker_name", "passport_number", "nationality", "birth_date", "gender",
        "establishment_id", "occupation_id", "start_date", "end_date", "issue_date", "quota_exception",
        "security_cleared", "docs_commercial_register", "docs_tax_card", "docs_passport", "docs_medical",
        "docs_photos", "submitted_at", "status", "directorate_id", "created_at", "changed_at", "version"),
        permits(rng, n // 10, est_rows, units, code_of, counters)))
    # New approvals continue after the loaded serials instead of colliding with them.
    for (d, t, y), last in counters.items():
        cur.execute("INSERT INTO serial_counter (directorate_id, doc_type, year, last) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (directorate_id, doc_type, year) DO UPDATE SET last = EXCLUDED.last",
                    (d, t, y, last))
    step(f"indexes ({len(indexes)})", lambda: sum(cur.execute(d) or 1 for d in indexes))
    conn.commit()
    conn.autocommit = True
    step("analyze", lambda: cur.execute("VACUUM ANALYZE") or 0)
    conn.close()
    took = time.perf_counter() - started
    print(f"dataset built: {n:,} citizens, {n * 3 // 2:,} certificates, {n * 2 // 5:,} skill tests, "
          f"{n // 10:,} permits in {took:.0f} s")
    return took


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--citizens", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/sijill_bench"))
    args = parser.parse_args()
    build(args.database_url.replace("+psycopg2", ""), args.citizens)


if __name__ == "__main__":
    main()
