"""Official Arabic PDF documents: one HTML template per document, rendered by
xhtml2pdf with the Amiri font (the tested recipe, ``shared/spec/documents.md``).

* ``render(document)`` — one document. An issued document prints as valid,
  with its signed QR code; a draft, submitted or rejected one prints only as a
  preview: the title says so, there is no QR code, and every page carries a
  large repeated watermark "مسودة — غير صالحة" stamped over the content
  (``app.watermark``), so a preview can never pass for a valid document.
  Revoked and expired documents are refused (``DocumentRefused``): a fresh
  copy of a document that is no longer valid has no legitimate use, and the
  record's history keeps what was printed while it was.
* ``render_batch(documents)`` — one merged PDF: certificates and permits one
  per A4 page; craft cards imposed ten per A4 sheet (fronts, then the backs
  mirrored so that duplex printing puts each back behind its front).

Resources: the templates name fonts as ``font:<file>``; the link callback
maps those into the Amiri font folder and refuses everything else, and the
resource policy confines reads to that folder with no network at all. The
QR code is an inline ``data:`` URI, so a document fetches nothing.
"""
import functools
import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import fontpkg
import segno
from flask import current_app, render_template
from flask_babel import force_locale, lazy_gettext as _
from pypdf import PdfReader, PdfWriter, Transformation
from reportlab.pdfgen import canvas
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from . import verify, watermark
from .models import CRAFT, DRAFT, EXPIRED, ISSUED, REJECTED, REVOKED, SUBMITTED, Certificate, Permit, \
    SkillTest

log = logging.getLogger(__name__)
FONT_DIR = Path(fontpkg.path("Amiri")).resolve().parent
FONT_FILES = {"Amiri-Regular.ttf", "Amiri-Bold.ttf"}
# No network, local reads only inside the font folder, and the server limits
# (size, depth, time) of xhtml2pdf for a render.
POLICY = ResourceAccessPolicy.server(base_dir=FONT_DIR, allow_remote=False)

MM = 72 / 25.4  # PDF points per millimetre
A4 = (210 * MM, 297 * MM)
CARD = (85.6 * MM, 54 * MM)  # ID-1
CARDS_ACROSS, CARDS_DOWN = 2, 5  # ten cards per A4 sheet

DOCUMENT_LOCALE = "ar"
FIT_LEVELS = 2  # tighter layouts tried before the long texts are shortened
SHORT_TEXT = 60
PREVIEW_STATUSES = {DRAFT, SUBMITTED, REJECTED}
TEMPLATES = {"registration": "registration.html", "skill": "skill.html", CRAFT: "craft_card.html",
             "permit": "permit.html"}
TITLES = {
    "registration": _("Registration certificate"),
    "skill": _("Skill-level certificate"),
    CRAFT: _("Craft practice licence card"),
    "permit": _("Work permit for a foreign national"),
}
# LRE … PDF: keeps a left-to-right run (serial, ID, dates) in order inside
# Arabic (the isolates U+2066… have no glyph in Amiri).
LRE, PDF_MARK = "\u202a", "\u202c"


class DocumentRefused(Exception):
    """This record cannot be printed (revoked, expired, no document yet).
    ``message`` is for the user, in the UI language."""

    def __init__(self, message):
        self.message = message
        super().__init__(str(message))


def link_callback(uri, rel):
    """``font:Amiri-Regular.ttf`` → its file in the font folder; anything else
    is refused (an empty path loads nothing)."""
    if uri.startswith("font:") and uri[5:] in FONT_FILES:
        return str(FONT_DIR / uri[5:])
    if uri.startswith("data:image/png;base64,"):
        return uri
    return ""


def ltr(value):
    return f"{LRE}{value}{PDF_MARK}" if value not in (None, "") else ""


def date_text(day):
    return ltr(day.strftime("%Y/%m/%d")) if day else "—"


# --- what a record prints as -------------------------------------------------
def document_of(obj):
    """The printable document of a record: a certificate or permit itself,
    a skill test's certificate. Raises DocumentRefused if it has none."""
    if isinstance(obj, SkillTest):
        if obj.certificate is None:
            raise DocumentRefused(_("This skill test has no certificate yet: "
                                    "a certificate is issued when a passed test is approved."))
        return obj.certificate
    if isinstance(obj, (Certificate, Permit)):
        return obj
    raise DocumentRefused(_("This record has no printable document."))


def kind_of(doc):
    return "permit" if isinstance(doc, Permit) else doc.kind


def is_preview(doc):
    """True: prints only as a watermarked preview. Refuses what may not print."""
    if doc.status == ISSUED and not doc.is_past_validity():
        return False
    if doc.status in PREVIEW_STATUSES:
        return True
    if doc.status == REVOKED:
        raise DocumentRefused(_("A revoked document cannot be printed."))
    if doc.status == EXPIRED or doc.status == ISSUED:
        raise DocumentRefused(_("An expired document cannot be printed."))
    raise DocumentRefused(_("This record has no printable document."))


def _person_name(user):
    if user is None:
        return ""
    return " ".join(p for p in (user.first_name, user.last_name) if p) or user.username


@dataclass
class Holder:
    name: str
    id_label: str
    id_value: str
    nationality: str = ""


def _holder(doc):
    if isinstance(doc, Permit):
        from .countries import country_name
        name = doc.worker_name
        if any("a" <= ch.lower() <= "z" for ch in name):
            name = ltr(name)  # a Latin name keeps its word order inside Arabic
        return Holder(name, str(_("Passport number")), doc.passport_number, country_name(doc.nationality))
    return Holder(doc.citizen.full_name, str(_("National ID")), doc.citizen.national_id)


def qr_data_uri(doc):
    url = verify.verify_url(doc.serial)
    return segno.make(url, error="m").png_data_uri(scale=4, border=2)


def context_for(doc, preview):
    kind = kind_of(doc)
    directorate = doc.directorate
    occupation = doc.occupation
    valid_from, valid_until = doc.validity()
    return {
        "kind": kind,
        "preview": preview,
        "title": TITLES[kind],
        "ministry": _("Ministry of Labour"),
        "republic": _("Arab Republic of Egypt"),
        "directorate": _("Labour directorate of %(name)s", name=directorate.name_ar) if directorate else "",
        "serial": ltr(doc.serial) if doc.serial and not preview else "",
        "holder": _holder(doc),
        "ltr": ltr,
        "date": date_text,
        "occupation": occupation.title_ar if occupation else "",
        "occupation_code": ltr(occupation.code) if occupation else "",
        "level": doc.skill_level.name_ar if getattr(doc, "skill_level", None) is not None else "",
        "issue_date": date_text(doc.issue_date),
        "valid_from": date_text(valid_from),
        "valid_until": date_text(valid_until) if valid_until else _("Without expiry"),
        "manager": _person_name(doc.decided_by) if not preview else "",
        "establishment": doc.establishment.name if isinstance(doc, Permit) else "",
        "experience_years": getattr(doc, "experience_years", None),
        "qr": qr_data_uri(doc) if not preview and doc.serial else None,
        "watermark": watermark.TEXT,
        "verify_hint": _("Scan the code or type the serial at the verification page to check this document."),
        "verify_base": ltr(current_app.config.get("VERIFY_BASE_URL", "").rstrip("/") + "/verify/"),
    }


# --- rendering ---------------------------------------------------------------
_LOCK = threading.Lock()  # xhtml2pdf and reportlab's font cache are process-wide


def _html_to_pdf(html, title):
    out = io.BytesIO()
    with _LOCK:
        result = pisa.pisaDocument(html, dest=out, encoding="utf-8", link_callback=link_callback,
                                   resource_policy=POLICY, context_meta={"title": str(title)})
    if result.err:
        raise RuntimeError(f"xhtml2pdf failed with {result.err} error(s)")
    return out.getvalue()


def render(obj, preview=None):
    """PDF bytes of one record's document. ``preview=None``: decided by the
    status (``is_preview``); ``True`` forces a preview of an issued one."""
    doc = document_of(obj)
    must_preview = is_preview(doc)
    preview = must_preview or bool(preview)
    # An official document is in Arabic whatever language the clerk's screen uses.
    with force_locale(DOCUMENT_LOCALE):
        context = context_for(doc, preview)
        template = f"documents/{TEMPLATES[context['kind']]}"
        title = str(context["title"]) + (f" — {watermark.TEXT}" if preview else f" {doc.serial}")
        pages = 2 if context["kind"] == CRAFT else 1
        # A very long name or title can push a line onto another page (on a
        # card, the back would then be the overflow): render again tighter,
        # and as a last resort with the longest texts shortened.
        for fit in range(FIT_LEVELS + 1):
            if fit == FIT_LEVELS:
                context = _shortened(context)
            pdf = _html_to_pdf(render_template(template, fit=fit, **context), title)
            if len(PdfReader(io.BytesIO(pdf)).pages) == pages:
                break
        else:
            log.warning("%s %s does not fit its page even shortened", context["kind"], doc.id)
    return watermark.stamp(pdf) if preview else pdf


def _shortened(context):
    context = dict(context)
    for key in ("occupation", "establishment"):
        if len(context.get(key) or "") > SHORT_TEXT:
            context[key] = context[key][:SHORT_TEXT].rsplit(" ", 1)[0] + " …"
    holder = context["holder"]
    if len(holder.name) > SHORT_TEXT:
        context["holder"] = Holder(holder.name[:SHORT_TEXT].rsplit(" ", 1)[0] + " …", holder.id_label,
                                   holder.id_value, holder.nationality)
    return context


def render_batch(objs):
    """One PDF of many documents (each as ``render`` prints it): cards ten
    per A4 sheet, every other document one per page, in the order given."""
    cards, pages = [], []
    for obj in objs:
        pdf = render(obj)
        (cards if kind_of(document_of(obj)) == CRAFT else pages).append(pdf)
    writer = PdfWriter()
    for pdf in pages:
        writer.append(PdfReader(io.BytesIO(pdf)))
    if cards:
        _impose_cards(writer, cards)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _card_origin(row, col):
    """Lower-left corner of a card slot; column 0 is the right-hand one
    (right-to-left reading order: the first card is top right)."""
    gap_x = (A4[0] - CARDS_ACROSS * CARD[0]) / (CARDS_ACROSS + 1)
    gap_y = (A4[1] - CARDS_DOWN * CARD[1]) / (CARDS_DOWN + 1)
    return A4[0] - (col + 1) * (gap_x + CARD[0]), A4[1] - (row + 1) * (gap_y + CARD[1])


@functools.lru_cache(maxsize=1)
def _crop_marks():
    """An A4 page with short crop marks just outside each card's corners, for
    cutting cards printed on plain paper (they fall outside a die-cut card)."""
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    c.setStrokeColorRGB(0.55, 0.55, 0.55)
    c.setLineWidth(0.3)
    off, length = 1 * MM, 2.5 * MM
    for row in range(CARDS_DOWN):
        for col in range(CARDS_ACROSS):
            x, y = _card_origin(row, col)
            for cx, dx in ((x, -1), (x + CARD[0], 1)):
                for cy, dy in ((y, -1), (y + CARD[1], 1)):
                    c.line(cx + dx * off, cy, cx + dx * (off + length), cy)
                    c.line(cx, cy + dy * off, cx, cy + dy * (off + length))
    c.showPage()
    c.save()
    return out.getvalue()


def _impose_cards(writer, cards):
    """Card fronts ten per A4 sheet, each sheet followed by the backs in the
    mirrored columns: printed duplex (long-edge flip), a back lands behind its
    own front."""
    per_sheet = CARDS_ACROSS * CARDS_DOWN
    for start in range(0, len(cards), per_sheet):
        readers = [PdfReader(io.BytesIO(pdf)) for pdf in cards[start:start + per_sheet]]
        for side in (0, 1):
            sheet = writer.add_blank_page(*A4)
            sheet.merge_page(PdfReader(io.BytesIO(_crop_marks())).pages[0])
            for i, reader in enumerate(readers):
                if side >= len(reader.pages):
                    continue
                row, col = divmod(i, CARDS_ACROSS)
                if side == 1:
                    col = CARDS_ACROSS - 1 - col
                x, y = _card_origin(row, col)
                sheet.merge_transformed_page(reader.pages[side], Transformation().translate(x, y))


def filename(obj):
    doc = document_of(obj)
    stem = doc.serial or f"{kind_of(doc)}-{doc.id}-preview"
    return f"{stem}.pdf"
