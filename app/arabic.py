"""Arabic text helpers: digits in both scripts, and name normalisation.

One place for the folding rules so that search, duplicate detection and the
occupation matcher agree on what "the same name" means.
"""
import re
import unicodedata

# Arabic-Indic (U+0660…) and Extended Arabic-Indic / Persian (U+06F0…) digits.
_DIGITS = {ord(c): str(i) for i, c in enumerate("٠١٢٣٤٥٦٧٨٩")}
_DIGITS.update({ord(c): str(i) for i, c in enumerate("۰۱۲۳۴۵۶۷۸۹")})

_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_TATWEEL = "\u0640"
# Bidi controls never belong in stored text: U+202E in a name would render it
# reversed on every page and document.
_BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"\s+")
# The embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069)
# reorder what follows them: a name holding one is refused, never silently
# repaired, since it is a sign of a pasted or forged value. The plain marks
# LRM/RLM (U+200E/U+200F), which Windows and Excel leave in Arabic text, are
# harmless and only removed by clean_text.
_DIRECTION_OVERRIDES = re.compile("[\u202a-\u202e\u2066-\u2069]")


def western_digits(text):
    """Arabic-Indic and Persian digits to 0-9; everything else untouched."""
    if text is None:
        return None
    return str(text).translate(_DIGITS)


def has_direction_override(text):
    return bool(text) and bool(_DIRECTION_OVERRIDES.search(str(text)))


def clean_text(text):
    """What a typed field is stored as: NFC, no bidi controls, no tatweel,
    single spaces, trimmed. Empty becomes None."""
    if text is None:
        return None
    text = unicodedata.normalize("NFC", str(text))
    text = _BIDI_CONTROLS.sub("", text).replace(_TATWEEL, "").replace("\x00", "")
    text = _SPACES.sub(" ", text).strip()
    return text or None


def normalize_name(text):
    """Fold the spelling variants of Arabic names for matching and search.

    أ إ آ ٱ → ا, ى → ي, ة → ه, ؤ → و, ئ → ي, no diacritics, no tatweel,
    single spaces, lower-case Latin.
    """
    if not text:
        return ""
    text = clean_text(text) or ""
    text = _DIACRITICS.sub("", text)
    text = (
        text.replace("أ", "ا").replace("إ", "ا").replace("آ", "ا").replace("ٱ", "ا")
        .replace("ى", "ي").replace("ة", "ه").replace("ؤ", "و").replace("ئ", "ي")
    )
    return western_digits(text).lower()
