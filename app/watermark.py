"""The "draft — not valid" watermark stamped over every page of a preview.

xhtml2pdf has no CSS transforms, so a diagonal watermark cannot come from the
template. Instead each rendered page gets a reportlab overlay merged *on top*
of its content (pypdf): big diagonal text repeated across the whole page, so
no part of a preview can be cut out to look like a valid document.
One overlay per page size, built once per process.
"""
import functools
import io

import fontpkg
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfReader, PdfWriter
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

TEXT = "مسودة — غير صالحة"


@functools.lru_cache(maxsize=2)
def _text_image(alpha):
    """The watermark words as a transparent PNG, shaped by Pillow's raqm
    layout (joined letters, right to left). An image rather than text: an
    overlay font merged onto a page of xhtml2pdf's fonts was drawn by viewers
    with its letters pulled apart, and an image carries no font at all."""
    font = ImageFont.truetype(fontpkg.path("Amiri", weight=700), 160, layout_engine=ImageFont.Layout.RAQM)
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), TEXT, font=font, direction="rtl", language="ar")
    pad = 20
    image = Image.new("RGBA", (right - left + 2 * pad, bottom - top + 2 * pad), (0, 0, 0, 0))
    ImageDraw.Draw(image).text((pad - left, pad - top), TEXT, font=font, fill=(176, 0, 0, alpha),
                               direction="rtl", language="ar")
    return ImageReader(image), image.size


@functools.lru_cache(maxsize=8)
def _overlay(width, height):
    """PDF bytes of one transparent page of this size carrying the watermark."""
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=(width, height))
    line_width = max(width, height) * 0.55
    c.translate(width / 2, height / 2)
    c.rotate(30)
    light, (w, h) = _text_image(70)
    line_height = line_width * h / w
    step = line_height * 2.2
    span = int((width + height) / step) + 2
    for row in range(-span, span + 1):
        for shift in (-1, 0, 1):  # the lines run past the page's corners
            x = shift * line_width * 1.15 + (row % 2) * line_width * 0.55
            c.drawImage(light, x - line_width / 2, row * step - line_height / 2, line_width, line_height,
                        mask="auto")
    # One darker line across the middle: legible even on a photocopy.
    dark, _size = _text_image(150)
    c.drawImage(dark, -line_width * 0.6, step / 2 - line_height * 0.6, line_width * 1.2, line_height * 1.2,
                mask="auto")
    c.showPage()
    c.save()
    return out.getvalue()


def stamp(pdf):
    """The same PDF with the watermark over every page."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    for page in writer.pages:
        box = page.mediabox
        width, height = round(float(box.width), 2), round(float(box.height), 2)
        mark = PdfReader(io.BytesIO(_overlay(width, height))).pages[0]
        page.merge_page(mark, over=True)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
