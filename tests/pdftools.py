"""Reading a PDF back the way a person would: its pages and their size, the
fonts it embeds, its text (NFKC: Arabic comes out in presentation forms) and
the QR codes on its pages (rendered by poppler, decoded by zbar)."""
import io
import shutil
import subprocess
import tempfile
import unicodedata
from pathlib import Path

import pytest
from pypdf import PdfReader

MM = 72 / 25.4


def need(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install poppler-utils zbar-tools)")


def page_sizes_mm(pdf):
    return [(round(float(p.mediabox.width) / MM, 1), round(float(p.mediabox.height) / MM, 1))
            for p in PdfReader(io.BytesIO(pdf)).pages]


def _run(args, pdf):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doc.pdf"
        path.write_bytes(pdf)
        return subprocess.run([*args, str(path)] if args[0] != "pdftotext" else [*args, str(path), "-"],
                              capture_output=True, text=True, check=True).stdout


def fonts(pdf):
    need("pdffonts")
    lines = _run(["pdffonts"], pdf).splitlines()[2:]
    return [(line.split()[0], line.split()[-5]) for line in lines if line.strip()]  # (name, embedded)


def text(pdf):
    need("pdftotext")
    return unicodedata.normalize("NFKC", _run(["pdftotext", "-layout"], pdf))


def qr_codes(pdf):
    """Every QR code decoded from every page."""
    need("pdftoppm", "zbarimg")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doc.pdf"
        path.write_bytes(pdf)
        subprocess.run(["pdftoppm", "-png", "-r", "200", str(path), str(Path(tmp) / "page")], check=True)
        found = []
        for png in sorted(Path(tmp).glob("page*.png")):
            out = subprocess.run(["zbarimg", "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(png)],
                                 capture_output=True, text=True)
            found += [line for line in out.stdout.splitlines() if line.strip()]
        return found


def images_on_pages(pdf):
    """How many images each page draws (the watermark is one)."""
    return [len(page.images) for page in PdfReader(io.BytesIO(pdf)).pages]
