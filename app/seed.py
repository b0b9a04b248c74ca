"""Reference data (idempotent) and demo data.

Reference data is loaded by every ``flask sijill init``: the 27 directorates,
the ISCO-08 classification with our Arabic titles (``app/data/isco08_ar.csv``,
reviewable), and the five default skill levels. Loading again updates titles
and adds what is missing; it never duplicates or deletes.
"""
import csv
import datetime
import random
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from . import workflow
from .extensions import appbuilder, db
from .models import (
    CRAFT, DRAFT, ISSUED, NATIONAL, REGISTRATION, SUBMITTED, Certificate, Citizen, Directorate,
    Establishment, Occupation, Permit, SkillLevel, SkillTest,
)
from .national_id import BORN_ABROAD, GOVERNORATES, make_national_id
from .security import ADMIN, AUDITOR, CLERK, MANAGER, PORTAL

DATA_DIR = Path(__file__).resolve().parent / "data"
SKILL_LEVELS = [
    (1, "عامل مساعد", "Assistant worker"),
    (2, "عامل نصف ماهر", "Semi-skilled worker"),
    (3, "عامل ماهر", "Skilled worker"),
    (4, "فني", "Technician"),
    (5, "فني متخصص", "Specialist technician"),
]
# A few national occupations under their ISCO unit groups, as the ministry's
# list will bring them (code = unit group + two digits).
NATIONAL_OCCUPATIONS = [
    ("741101", "7411", "كهربائي تمديدات منزلية", "Domestic wiring electrician"),
    ("712601", "7126", "سباك صحي", "Sanitary plumber"),
    ("711501", "7115", "نجار موبيليا", "Furniture carpenter"),
    ("721201", "7212", "لحام كهرباء", "Arc welder"),
    ("723101", "7231", "ميكانيكي سيارات", "Car mechanic"),
    ("751201", "7512", "خباز بلدي", "Traditional baker"),
]


def load_reference_data():
    session = db.session
    existing = {d.code: d for d in session.scalars(select(Directorate))}
    for code, (name_ar, name_en) in GOVERNORATES.items():
        if code == BORN_ABROAD:
            continue
        row = existing.get(code) or Directorate(code=code)
        row.name_ar, row.name_en = name_ar, name_en
        session.add(row)
    levels = {lvl.rank: lvl for lvl in session.scalars(select(SkillLevel))}
    for rank, name_ar, name_en in SKILL_LEVELS:
        if rank not in levels:
            session.add(SkillLevel(rank=rank, name_ar=name_ar, name_en=name_en))
    session.flush()
    _load_isco(session)
    session.commit()


def _load_isco(session):
    occupations = {o.code: o for o in session.scalars(select(Occupation))}
    with open(DATA_DIR / "isco08_ar.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:  # parents come before children in the file
        occ = occupations.get(row["code"])
        if occ is None:
            occ = Occupation(code=row["code"])
            occupations[row["code"]] = occ
            session.add(occ)
        occ.level = int(row["level"])
        occ.title_ar, occ.title_en = row["title_ar"], row["title_en"]
        occ.parent = occupations.get(row["parent_code"]) if row["parent_code"] else None
        occ.active = True
    for code, parent, title_ar, title_en in NATIONAL_OCCUPATIONS:
        if code not in occupations and parent in occupations:
            occ = Occupation(code=code, level=NATIONAL, parent=occupations[parent],
                             title_ar=title_ar, title_en=title_en, active=True)
            session.add(occ)
            occupations[code] = occ
    session.flush()


# --- Demo -------------------------------------------------------------------------
DEMO_USERS = [
    ("admin", "مدير", "الوزارة", ADMIN, None),
    ("cairo_manager", "مدير", "مديرية القاهرة", MANAGER, "01"),
    ("cairo_clerk", "موظف", "مديرية القاهرة", CLERK, "01"),
    ("giza_manager", "مدير", "مديرية الجيزة", MANAGER, "21"),
    ("giza_clerk", "موظف", "مديرية الجيزة", CLERK, "21"),
    ("auditor", "مراجع", "الوزارة", AUDITOR, None),
    ("portal", "بوابة", "الخدمات الرقمية", PORTAL, None),
]

MALE = ["محمد", "أحمد", "محمود", "مصطفى", "علي", "حسن", "حسين", "إبراهيم", "عمر", "خالد", "يوسف", "عبد الله",
        "طارق", "سامح", "شريف", "وليد", "هاني", "أيمن", "كريم", "مينا", "جرجس", "بيشوي", "رامي", "سعيد"]
FEMALE = ["فاطمة", "مريم", "نورا", "سارة", "هبة", "منى", "آية", "ياسمين", "دعاء", "إيمان", "شيماء", "رحاب",
          "مارينا", "كريستين", "نادية", "سلمى", "ريهام", "أسماء", "هند", "زينب"]
FAMILY = ["عبد الرحمن", "السيد", "عبد العزيز", "الشافعي", "منصور", "حسانين", "عبد الحميد", "فرج", "سليمان",
          "النجار", "الشربيني", "عبد المسيح", "جاد", "رزق", "البنا", "عوض", "زكي", "بدوي", "عثمان"]
STREETS = ["شارع التحرير", "شارع الهرم", "شارع فيصل", "شارع الجمهورية", "شارع بورسعيد", "شارع النصر"]
QUALIFICATIONS = ["دبلوم صنايع", "بكالوريوس هندسة", "شهادة إتمام التعليم الأساسي", "دبلوم تجارة", "ليسانس آداب",
                  "بدون مؤهل", "معهد فني صناعي"]
DEMO_UNIT_CODES = ["7411", "7126", "7115", "7212", "7231", "7512", "7413", "7422", "8322", "7111", "7133",
                   "5120", "7531", "7223", "9313"]
NATIONALITIES = ["SY", "SD", "IN", "CN", "PH", "JO", "PS", "BD", "TR", "IT", "DE", "YE"]


def create_demo_users(password):
    sm = appbuilder.sm
    directorates = {d.code: d for d in db.session.scalars(select(Directorate))}
    for username, first, last, role_name, code in DEMO_USERS:
        if sm.find_user(username=username):
            continue
        role = sm.find_role(role_name)
        user = sm.add_user(username, first, last, f"{username}@sijill.demo.eg", [role], password)
        user.directorate_id = directorates[code].id if code else None
        db.session.merge(user)
    db.session.commit()


def seed_demo(citizens=200, seed=2026):
    """Realistic demo data in every status, through the real model rules
    and the real maker–checker steps (so serials and the audit trail exist)."""
    rng = random.Random(seed)
    session = db.session
    sm = appbuilder.sm
    directorates = list(session.scalars(select(Directorate).order_by(Directorate.code)))
    weights = [8 if d.code in ("01", "21") else 4 if d.code in ("02", "14", "13", "12") else 1 for d in directorates]
    occupations = list(session.scalars(select(Occupation).where(Occupation.code.in_(DEMO_UNIT_CODES))))
    occupations += list(session.scalars(select(Occupation).where(Occupation.level == NATIONAL)))
    levels = list(session.scalars(select(SkillLevel).order_by(SkillLevel.rank)))
    clerks = {u.directorate_id: u for u in [sm.find_user(username=n) for n in ("cairo_clerk", "giza_clerk")] if u}
    managers = {u.directorate_id: u for u in [sm.find_user(username=n) for n in ("cairo_manager", "giza_manager")] if u}
    admin = sm.find_user(username="admin")
    today = datetime.date.today()
    start = session.scalar(select(func.count(Citizen.id))) or 0
    for i in range(citizens):
        directorate = rng.choices(directorates, weights)[0]
        clerk = clerks.get(directorate.id)
        manager = managers.get(directorate.id, admin)
        gender = rng.choice("MF")
        birth = datetime.date(rng.randint(1962, 2006), rng.randint(1, 12), rng.randint(1, 28))
        born_in = directorate.code if rng.random() < 0.8 else rng.choice([d.code for d in directorates])
        first = rng.choice(MALE if gender == "M" else FEMALE)
        name = f"{first} {rng.choice(MALE)} {rng.choice(MALE)} {rng.choice(FAMILY)}"
        citizen = Citizen(
            national_id=make_national_id(birth, born_in, start + i + 1, gender), full_name=name,
            mobile=f"01{rng.choice('0125')}{rng.randint(10000000, 99999999)}",
            address=f"{rng.randint(1, 200)} {rng.choice(STREETS)}، {directorate.name_ar}",
            qualification=rng.choice(QUALIFICATIONS), directorate=directorate, created_by_id=getattr(clerk, "id", None),
        )
        session.add(citizen)
        session.flush()
        occupation = rng.choice(occupations)
        _demo_registration(session, rng, citizen, occupation, clerk, manager)
        if rng.random() < 0.6:
            _demo_skill_path(session, rng, citizen, occupation, levels, clerk, manager, today)
        session.commit()
    _demo_permits(session, rng, directorates, occupations, clerks, managers, admin, today)
    session.commit()


def _steps(session, obj, steps, clerk, manager, reason=None):
    for step in steps:
        actor = clerk if step == "submit" else manager
        workflow.apply(session, obj, step, user=actor, reason=reason)


def _demo_registration(session, rng, citizen, occupation, clerk, manager):
    cert = Certificate(kind=REGISTRATION, citizen=citizen, occupation=occupation,
                       directorate_id=citizen.directorate_id, experience_years=rng.randint(0, 15),
                       created_by_id=getattr(clerk, "id", None))
    session.add(cert)
    session.flush()
    fate = rng.random()
    if fate < 0.75:
        _steps(session, cert, ["submit", "approve"], clerk, manager)
    elif fate < 0.85:
        _steps(session, cert, ["submit"], clerk, manager)
    elif fate < 0.92:
        _steps(session, cert, ["submit", "reject"], clerk, manager, reason="بيانات المؤهل غير مستوفاة")


def _demo_skill_path(session, rng, citizen, occupation, levels, clerk, manager, today):
    test = SkillTest(citizen=citizen, occupation=occupation, skill_level=rng.choice(levels[:4]),
                     directorate_id=citizen.directorate_id,
                     test_date=today - datetime.timedelta(days=rng.randint(5, 400)),
                     fee_exempt=rng.random() < 0.05, created_by_id=getattr(clerk, "id", None))
    if test.fee_exempt:
        test.exemption_reason = "من ذوي الهمم"
    session.add(test)
    session.flush()
    if rng.random() < 0.15:
        return  # booked, not held yet
    test.theory_score, test.practical_score = rng.randint(30, 100), rng.randint(30, 100)
    _steps(session, test, ["submit", "approve"], clerk, manager)
    if test.result == "pass" and rng.random() < 0.6:
        card = Certificate(kind=CRAFT, citizen=citizen, occupation=occupation,
                           directorate_id=citizen.directorate_id, fee=rng.choice([100, 200, 300]),
                           created_by_id=getattr(clerk, "id", None))
        session.add(card)
        session.flush()
        fate = rng.random()
        if fate < 0.8:
            _steps(session, card, ["submit", "approve"], clerk, manager)
            if rng.random() < 0.05:
                workflow.apply(session, card, "revoke", user=manager, reason="مزاولة الحرفة بالمخالفة للشروط")
        elif fate < 0.9:
            _steps(session, card, ["submit"], clerk, manager)


def _demo_permits(session, rng, directorates, occupations, clerks, managers, admin, today):
    for directorate in directorates[:6] + [d for d in directorates if d.code == "21"]:
        clerk = clerks.get(directorate.id)
        manager = managers.get(directorate.id, admin)
        est = Establishment(
            name=f"شركة {rng.choice(FAMILY)} للمقاولات والتجارة", directorate=directorate,
            commercial_register=str(rng.randint(100000, 999999)), tax_number=str(rng.randint(100000000, 999999999)),
            address=f"{rng.choice(STREETS)}، {directorate.name_ar}", egyptian_workers=rng.choice([40, 80, 150]),
            created_by_id=getattr(clerk, "id", None))
        session.add(est)
        session.flush()
        for n in range(rng.randint(2, 4)):
            start = today - datetime.timedelta(days=rng.randint(0, 300))
            permit = Permit(
                worker_name=f"Worker {directorate.code}-{n + 1} {rng.choice(['Ahmad', 'Li Wei', 'Rahul', 'Maria', 'John'])}",
                passport_number=f"P{rng.randint(1000000, 9999999)}", nationality=rng.choice(NATIONALITIES),
                birth_date=datetime.date(rng.randint(1970, 2000), rng.randint(1, 12), rng.randint(1, 28)),
                gender=rng.choice("MF"), establishment=est, directorate=directorate,
                occupation=rng.choice([o for o in occupations if not o.code.startswith(("5113", "3331"))]),
                start_date=start, end_date=start + datetime.timedelta(days=364),
                security_cleared=True, created_by_id=getattr(clerk, "id", None),
                **{f: True for f in Permit.DOCUMENT_FIELDS})
            session.add(permit)
            session.flush()
            fate = rng.random()
            if fate < 0.6:
                _steps(session, permit, ["submit", "approve"], clerk, manager)
            elif fate < 0.8:
                _steps(session, permit, ["submit"], clerk, manager)
            elif fate < 0.9:
                _steps(session, permit, ["submit", "reject"], clerk, manager, reason="لم ترد الموافقة الأمنية")


def database_is_empty():
    return (db.session.scalar(select(func.count(Citizen.id)).execution_options(sijill_unscoped=True,
                                                                               sijill_include_deleted=True)) or 0) == 0
