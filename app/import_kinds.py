"""The kinds of register an import reads: one entry per kind, so the engine
(app/imports.py) stays one.

Per kind: the columns (field → accepted headers, the first is the
template's Arabic header), the required fields, the key that makes a
re-import create nothing, an example row for the downloadable template, and
which fields are dates or whole numbers (parsed here, so a bad cell gets its
own Arabic message on its own row and column).

Keys: citizens by national ID; certificates (registration, skill, craft) by
serial; foreign permits by passport number and start date (one worker may
hold several permits over the years, one per start date).
"""
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

from .arabic import western_digits

CITIZENS, REGISTRATION, SKILL, CRAFT, PERMITS = "citizens", "registration", "skill", "craft", "permits"

NATIONAL_ID = ("الرقم القومي", "national_id", "national id", "الرقم القومى")
SERIAL = ("رقم الشهادة", "serial", "المسلسل", "رقم المسلسل", "الرقم المسلسل")
OCCUPATION = ("المهنة", "occupation", "المهنه")
OCCUPATION_CODE = ("كود المهنة", "occupation_code", "occupation code", "كود المهنه")
DIRECTORATE = ("كود المديرية", "directorate")
ISSUE_DATE = ("تاريخ الإصدار", "issue_date", "issue date", "تاريخ الاصدار")
EXPIRY_DATE = ("تاريخ الانتهاء", "expiry_date", "expiry date")


@dataclass(frozen=True)
class Kind:
    name: str
    label: object
    columns: dict
    required: tuple
    key: tuple
    example: tuple
    dates: tuple = ()
    numbers: tuple = ()
    certificate_kind: str = None  # Certificate.kind for the three certificate registers
    labels: dict = field(default_factory=dict)  # field → Arabic column name in the report


def _certificate(name, label, kind, extra=(), example_extra=()):
    columns = {
        "serial": SERIAL,
        "national_id": NATIONAL_ID,
        "occupation": OCCUPATION,
        "occupation_code": OCCUPATION_CODE,
        "issue_date": ISSUE_DATE,
        "expiry_date": EXPIRY_DATE,
        "experience_years": ("سنوات الخبرة", "experience_years", "experience"),
        "directorate": DIRECTORATE,
    }
    columns.update(extra)
    example = ("01-2019-%s-000123" % {"registration": "REG", "skill": "SKL", "craft": "CRF"}[kind],
               "29005170100000", "كهربائي منازل", "7411", "2019-03-05", "", "5", "01") + example_extra
    return Kind(name, label, columns, ("serial", "national_id"), ("serial",), example,
                dates=("issue_date", "expiry_date"), numbers=("experience_years", "skill_level", "fee"),
                certificate_kind=kind)


KINDS = {
    CITIZENS: Kind(
        CITIZENS, _l("Citizens"),
        {
            "national_id": NATIONAL_ID,
            "full_name": ("الاسم رباعي", "full_name", "full name", "name", "الاسم", "الاسم رباعى"),
            "latin_name": ("الاسم بالحروف اللاتينية", "latin_name", "latin name"),
            "mobile": ("المحمول", "mobile", "رقم المحمول", "التليفون"),
            "address": ("العنوان", "address"),
            "qualification": ("المؤهل", "qualification"),
            "directorate": DIRECTORATE,
            "occupation": OCCUPATION,
        },
        ("national_id", "full_name"), ("national_id",),
        ("29005170100000", "محمد أحمد علي حسن", "Mohamed Ahmed Ali Hassan",
         "01012345678", "القاهرة - شبرا", "دبلوم صنايع", "01", "كهربائي منازل")),
    REGISTRATION: _certificate(REGISTRATION, _l("Registration certificates"), REGISTRATION),
    SKILL: _certificate(SKILL, _l("Skill-level certificates"), SKILL,
                        {"skill_level": ("المستوى", "skill_level", "level", "مستوى المهارة")}, ("3",)),
    CRAFT: _certificate(CRAFT, _l("Craft practice licence cards"), CRAFT,
                        {"fee": ("الرسم", "fee", "الرسوم")}, ("100",)),
    PERMITS: Kind(
        PERMITS, _l("Foreign work permits"),
        {
            "passport_number": ("رقم جواز السفر", "passport_number", "passport", "رقم الجواز"),
            "worker_name": ("اسم العامل", "worker_name", "worker name", "الاسم"),
            "nationality": ("الجنسية", "nationality"),
            "birth_date": ("تاريخ الميلاد", "birth_date", "birth date"),
            "gender": ("النوع", "gender"),
            "commercial_register": ("السجل التجاري", "commercial_register", "commercial register",
                                    "رقم السجل التجاري"),
            "occupation": OCCUPATION,
            "occupation_code": OCCUPATION_CODE,
            "start_date": ("تاريخ البداية", "start_date", "start date", "من"),
            "end_date": ("تاريخ النهاية", "end_date", "end date", "إلى"),
            "serial": ("رقم التصريح", "serial", "المسلسل"),
            "directorate": DIRECTORATE,
        },
        ("passport_number", "worker_name", "nationality", "commercial_register", "start_date", "end_date"),
        ("passport_number", "start_date"),
        ("A1234567", "John Smith", "GB", "1985-06-01", "M", "12345678", "مهندس مدني", "2142",
         "2024-01-01", "2024-12-31", "01-2024-PRM-000045", "01"),
        dates=("birth_date", "start_date", "end_date")),
}


def parse_number(value):
    """A whole number from a cell ("5", "٥", 5.0); ValueError otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if float(value).is_integer():
            return int(value)
        raise ValueError
    text = western_digits(str(value)).strip()
    if text.endswith(".0"):
        text = text[:-2]
    return int(text)
