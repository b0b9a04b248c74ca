"""The Egyptian national ID (الرقم القومي): parsing and the facts it carries.

Layout (14 digits, from the left): century (2 = 1900s, 3 = 2000s), birth date
YYMMDD, governorate of birth (two digits, 88 = abroad), a four-digit serial
whose last digit is odd for men and even for women, and a check digit.

The check-digit algorithm is not published; the weights below are the ones
commonly cited, and open-source validators disagree with each other. So a
mismatch is only a warning unless the caller asks for strictness
(setting NATIONAL_ID_STRICT_CHECKSUM). Every other rule is hard.
"""
import datetime
from dataclasses import dataclass, field

from .arabic import western_digits

# Codes of the national ID → (Arabic, English). 88: born abroad.
GOVERNORATES = {
    "01": ("القاهرة", "Cairo"),
    "02": ("الإسكندرية", "Alexandria"),
    "03": ("بورسعيد", "Port Said"),
    "04": ("السويس", "Suez"),
    "11": ("دمياط", "Damietta"),
    "12": ("الدقهلية", "Dakahlia"),
    "13": ("الشرقية", "Sharqia"),
    "14": ("القليوبية", "Qalyubia"),
    "15": ("كفر الشيخ", "Kafr El Sheikh"),
    "16": ("الغربية", "Gharbia"),
    "17": ("المنوفية", "Monufia"),
    "18": ("البحيرة", "Beheira"),
    "19": ("الإسماعيلية", "Ismailia"),
    "21": ("الجيزة", "Giza"),
    "22": ("بني سويف", "Beni Suef"),
    "23": ("الفيوم", "Fayoum"),
    "24": ("المنيا", "Minya"),
    "25": ("أسيوط", "Asyut"),
    "26": ("سوهاج", "Sohag"),
    "27": ("قنا", "Qena"),
    "28": ("أسوان", "Aswan"),
    "29": ("الأقصر", "Luxor"),
    "31": ("البحر الأحمر", "Red Sea"),
    "32": ("الوادي الجديد", "New Valley"),
    "33": ("مطروح", "Matrouh"),
    "34": ("شمال سيناء", "North Sinai"),
    "35": ("جنوب سيناء", "South Sinai"),
    "88": ("خارج الجمهورية", "Born abroad"),
}
BORN_ABROAD = "88"
CENTURIES = {"2": 1900, "3": 2000}
CHECK_WEIGHTS = (2, 7, 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


@dataclass(frozen=True)
class NationalID:
    number: str
    birth_date: datetime.date
    gender: str  # "M" or "F"
    governorate_code: str
    warnings: tuple = field(default=())


def expected_check_digit(first13):
    total = sum(int(d) * w for d, w in zip(first13, CHECK_WEIGHTS))
    return (11 - total % 11) % 10


def parse_national_id(text, strict_checksum=False, today=None):
    """Validate and decode a national ID.

    Accepts Western and Arabic-Indic digits and surrounding spaces (also
    spaces or dashes between groups, as people copy them from cards).
    Returns a NationalID; raises ValueError with an Arabic message naming the
    broken rule.
    """
    if text is None:
        raise ValueError("الرقم القومي مطلوب.")
    raw = western_digits(str(text)).strip().replace(" ", "").replace("-", "")
    if not raw:
        raise ValueError("الرقم القومي مطلوب.")
    if not raw.isascii() or not raw.isdigit():
        raise ValueError("الرقم القومي يتكون من أرقام فقط.")
    if len(raw) != 14:
        raise ValueError(f"الرقم القومي 14 رقمًا بالضبط، والمُدخل {len(raw)} رقمًا.")
    century = CENTURIES.get(raw[0])
    if century is None:
        raise ValueError("الرقم الأول من الرقم القومي (القرن) يجب أن يكون 2 أو 3.")
    try:
        birth = datetime.date(century + int(raw[1:3]), int(raw[3:5]), int(raw[5:7]))
    except ValueError:
        raise ValueError(
            "تاريخ الميلاد في الرقم القومي (الأرقام 2–7) ليس تاريخًا صحيحًا."
        ) from None
    if birth > (today or datetime.date.today()):
        raise ValueError("تاريخ الميلاد في الرقم القومي يقع في المستقبل.")
    gov = raw[7:9]
    if gov not in GOVERNORATES:
        raise ValueError(f"كود المحافظة «{gov}» في الرقم القومي غير معروف.")
    gender = "M" if int(raw[12]) % 2 else "F"
    warnings = ()
    if int(raw[13]) != expected_check_digit(raw[:13]):
        message = "رقم التحقق (الرقم الأخير) لا يطابق الخوارزمية المعتادة؛ راجع الرقم القومي."
        if strict_checksum:
            raise ValueError(message)
        warnings = (message,)
    return NationalID(raw, birth, gender, gov, warnings)


def make_national_id(birth_date, governorate_code, serial, gender):
    """Build a well-formed ID (demo data, tests).

    serial: any non-negative int; its low three digits and the gender digit
    (odd for men, even for women) fill positions 10-13.
    """
    century = "2" if birth_date.year < 2000 else "3"
    gender_digit = (serial // 1000 % 5) * 2 + (1 if gender == "M" else 0)
    first13 = f"{century}{birth_date:%y%m%d}{governorate_code}{serial % 1000:03d}{gender_digit}"
    return first13 + str(expected_check_digit(first13))
