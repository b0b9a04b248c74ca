"""Records made through the real model rules, for tests."""
import datetime
import itertools

from sqlalchemy import select

from app import workflow
from app.extensions import appbuilder, db
from app.models import (
    CRAFT, REGISTRATION, Certificate, Citizen, Directorate, Establishment, Occupation, Permit, SkillLevel,
    SkillTest,
)
from app.national_id import make_national_id

_n = itertools.count(1)
_base = int(datetime.datetime.now().strftime("%M%S")) * 100


def directorate(code):
    return db.session.scalar(select(Directorate).where(Directorate.code == code))


def occupation(code="7411"):
    return db.session.scalar(select(Occupation).where(Occupation.code == code))


def level(rank=3):
    return db.session.scalar(select(SkillLevel).where(SkillLevel.rank == rank))


def user(username):
    return appbuilder.sm.find_user(username=username)


def national_id(birth=datetime.date(1990, 5, 17), gov="01", gender="M"):
    n = _base + next(_n)
    return make_national_id(birth, gov, n, gender)


def citizen(code="01", **kw):
    values = dict(national_id=national_id(), full_name="محمد أحمد علي حسن", directorate=directorate(code))
    values.update(kw)
    obj = Citizen(**values)
    db.session.add(obj)
    db.session.commit()
    return obj


def certificate(citizen_obj, kind=REGISTRATION, occ="7411", **kw):
    obj = Certificate(kind=kind, citizen=citizen_obj, occupation=occupation(occ),
                      directorate_id=citizen_obj.directorate_id, **kw)
    db.session.add(obj)
    db.session.commit()
    return obj


def issue(obj, clerk="cairo_clerk", manager="cairo_manager"):
    workflow.apply(db.session, obj, "submit", user=user(clerk))
    workflow.apply(db.session, obj, "approve", user=user(manager))
    db.session.commit()
    return obj


def skill_test(citizen_obj, occ="7411", theory=80, practical=75, **kw):
    obj = SkillTest(citizen=citizen_obj, occupation=occupation(occ), skill_level=level(3),
                    directorate_id=citizen_obj.directorate_id, test_date=datetime.date.today(),
                    theory_score=theory, practical_score=practical, **kw)
    db.session.add(obj)
    db.session.commit()
    return obj


def establishment(code="01", workers=100, **kw):
    n = _base + next(_n)
    values = dict(name=f"شركة اختبار {n}", commercial_register=f"{n:08d}", tax_number=f"{n:09d}",
                  egyptian_workers=workers, directorate=directorate(code))
    values.update(kw)
    obj = Establishment(**values)
    db.session.add(obj)
    db.session.commit()
    return obj


def permit(est, occ="7411", **kw):
    start = datetime.date.today()
    values = dict(worker_name="John Smith", passport_number=f"P{_base + next(_n):07d}", nationality="GB",
                  birth_date=datetime.date(1985, 1, 1), establishment=est, directorate_id=est.directorate_id,
                  occupation=occupation(occ), start_date=start, end_date=start + datetime.timedelta(days=300),
                  security_cleared=True, **{f: True for f in Permit.DOCUMENT_FIELDS})
    values.update(kw)
    obj = Permit(**values)
    db.session.add(obj)
    db.session.commit()
    return obj


def craft_card(citizen_obj, occ="7411", **kw):
    return certificate(citizen_obj, kind=CRAFT, occ=occ, **kw)
