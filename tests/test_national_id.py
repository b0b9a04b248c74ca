"""The national ID parser: every hard rule, both digit scripts, the check digit."""
import datetime

import pytest

from app.national_id import GOVERNORATES, expected_check_digit, make_national_id, parse_national_id

TODAY = datetime.date(2026, 12, 4)


def with_check(first13):
    return first13 + str(expected_check_digit(first13))


@pytest.mark.parametrize("century,year", [("2", 1990), ("3", 2005)])
def test_both_centuries(century, year):
    nid = with_check(f"{century}{year % 100:02d}0517" + "01" + "1234")
    parsed = parse_national_id(nid, today=TODAY)
    assert parsed.birth_date == datetime.date(year, 5, 17)
    assert parsed.governorate_code == "01"


@pytest.mark.parametrize("code", sorted(GOVERNORATES))
def test_every_governorate_code(code):
    parsed = parse_national_id(with_check("2900517" + code + "0123"), today=TODAY)
    assert parsed.governorate_code == code


def test_born_abroad_88():
    assert parse_national_id(with_check("2900517" + "88" + "0123"), today=TODAY).governorate_code == "88"


@pytest.mark.parametrize("code", ["00", "05", "10", "20", "30", "36", "87", "99"])
def test_unknown_governorate(code):
    with pytest.raises(ValueError, match="المحافظة"):
        parse_national_id(with_check("2900517" + code + "0123"), today=TODAY)


@pytest.mark.parametrize("date_part", ["900230", "900431", "901301", "900000", "890229", "900132"])
def test_impossible_dates(date_part):
    with pytest.raises(ValueError, match="تاريخ الميلاد"):
        parse_national_id(with_check("2" + date_part + "01" + "0123"), today=TODAY)


def test_leap_day_is_a_real_date():
    parsed = parse_national_id(with_check("3000229" + "01" + "0123"), today=TODAY)
    assert parsed.birth_date == datetime.date(2000, 2, 29)


def test_future_birth_date():
    with pytest.raises(ValueError, match="المستقبل"):
        parse_national_id(with_check("3270101" + "01" + "0123"), today=TODAY)


@pytest.mark.parametrize("text", ["2900517010123", "290051701012345", "", "   "])
def test_wrong_lengths_and_empty(text):
    with pytest.raises(ValueError):
        parse_national_id(text, today=TODAY)


@pytest.mark.parametrize("text", ["2900517010123a", "29005170I01234", "2900517.101234"])
def test_letters_refused(text):
    with pytest.raises(ValueError, match="أرقام"):
        parse_national_id(text, today=TODAY)


@pytest.mark.parametrize("century", ["0", "1", "4", "9"])
def test_bad_century_digit(century):
    with pytest.raises(ValueError, match="القرن"):
        parse_national_id(with_check(century + "900517" + "01" + "0123"), today=TODAY)


def test_arabic_indic_digits_and_spaces():
    western = make_national_id(datetime.date(1990, 5, 17), "21", 123, "F")
    arabic = "".join("٠١٢٣٤٥٦٧٨٩"[int(d)] for d in western)
    parsed = parse_national_id(f"  {arabic[:7]} {arabic[7:]}  ", today=TODAY)
    assert parsed.number == western
    assert parsed.gender == "F"
    assert parsed.governorate_code == "21"


@pytest.mark.parametrize("digit,gender", [("1", "M"), ("3", "M"), ("9", "M"), ("0", "F"), ("2", "F"), ("8", "F")])
def test_gender_from_13th_digit(digit, gender):
    assert parse_national_id(with_check("2900517" + "01" + "012" + digit), today=TODAY).gender == gender


def test_wrong_check_digit_is_a_warning_by_default():
    good = make_national_id(datetime.date(1990, 5, 17), "01", 5, "M")
    bad = good[:13] + str((int(good[13]) + 1) % 10)
    parsed = parse_national_id(bad, today=TODAY)
    assert parsed.warnings and "رقم التحقق" in parsed.warnings[0]
    assert parse_national_id(good, today=TODAY).warnings == ()


def test_wrong_check_digit_refused_when_strict():
    good = make_national_id(datetime.date(1990, 5, 17), "01", 5, "M")
    bad = good[:13] + str((int(good[13]) + 1) % 10)
    with pytest.raises(ValueError, match="رقم التحقق"):
        parse_national_id(bad, strict_checksum=True, today=TODAY)
