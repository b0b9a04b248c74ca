"""ISO 3166-1 countries with Arabic names, for the nationality of foreign workers.

Names come from pycountry's ISO catalogues (its Arabic translation), with the
diacritics removed so that they read and sort like ordinary Arabic text."""
import gettext

import pycountry

from .arabic import _DIACRITICS


# Names pycountry's Arabic catalogue has not caught up with (renamed countries).
_ARABIC_MISSING = {"TR": "تركيا"}


def _load():
    try:
        arabic = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["ar"])
    except OSError:  # pragma: no cover - pycountry always ships it
        arabic = gettext.NullTranslations()
    countries = {}
    for country in pycountry.countries:
        name_en = getattr(country, "common_name", None) or country.name
        name_ar = _ARABIC_MISSING.get(country.alpha_2) or _DIACRITICS.sub("", arabic.gettext(country.name))
        countries[country.alpha_2] = (name_ar, name_en)
    return countries


COUNTRIES = _load()


def country_choices(locale="ar"):
    index = 0 if locale == "ar" else 1
    return sorted(((code, names[index]) for code, names in COUNTRIES.items()), key=lambda c: c[1])


def country_name(code, locale="ar"):
    names = COUNTRIES.get(code or "")
    if not names:
        return code or ""
    return names[0] if locale == "ar" else names[1]
