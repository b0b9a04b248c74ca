"""Public verification of printed documents: the QR link and a typed serial.

The QR code holds ``VERIFY_BASE_URL/verify/<serial>?sig=<signature>``; the
signature is an HMAC-SHA256 of the serial under ``DOCUMENT_SIGNING_KEY``
(server-side, never printed), truncated to 128 bits and base64url-encoded.
A forged QR for an invented or altered serial cannot carry a matching
signature, and the page says so. A serial typed by hand (no signature) is
looked up too and shows the same limited answer.

The page needs no login, is rate-limited per client address, and shows only
the document type, status, validity dates, directorate and a masked name —
never a national ID, passport number or any other personal data. What the
status *is* is the model's decision (``models.document_status``).
"""
import base64
import collections
import hashlib
import hmac
import threading
import time

from flask import Blueprint, current_app, render_template, request
from flask_babel import force_locale, lazy_gettext as _

from .extensions import db
from .models import EXPIRED, NOT_FOUND, REVOKED, VALID, document_status, normalize_serial

SIGNATURE_BYTES = 16
TAMPERED = "tampered"

blueprint = Blueprint("verify", __name__, url_prefix="/verify")


# --- signatures -----------------------------------------------------------------
def _key():
    key = current_app.config.get("DOCUMENT_SIGNING_KEY") or current_app.config["SECRET_KEY"]
    return key.encode() if isinstance(key, str) else key


def sign(serial):
    digest = hmac.new(_key(), serial.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signature_ok(serial, sig):
    return hmac.compare_digest(sign(serial), (sig or "").strip())


def verify_url(serial):
    """The QR code's URL (absolute when VERIFY_BASE_URL is set)."""
    base = current_app.config.get("VERIFY_BASE_URL", "").rstrip("/")
    return f"{base}/verify/{serial}?sig={sign(serial)}"


# --- rate limit -------------------------------------------------------------------
class RateLimiter:
    """At most ``limit`` hits per client in a sliding minute, in this process.

    Per worker process (N workers allow up to N × limit): enough to make
    enumerating serials useless, without a shared store. The table of clients
    is bounded; the oldest ones are forgotten first."""

    MAX_CLIENTS = 50_000

    def __init__(self):
        self._hits = collections.OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client, limit, window=60.0, now=None):
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.pop(client, None) or collections.deque()
            while hits and hits[0] <= now - window:
                hits.popleft()
            allowed = len(hits) < limit
            if allowed:
                hits.append(now)
            self._hits[client] = hits
            while len(self._hits) > self.MAX_CLIENTS:
                self._hits.popitem(last=False)
            return allowed

    def reset(self):
        with self._lock:
            self._hits.clear()


limiter = RateLimiter()


@blueprint.before_request
def _rate_limit():
    limit = int(current_app.config.get("VERIFY_RATE_LIMIT_PER_MINUTE", 30))
    if limit > 0 and not limiter.allow(request.remote_addr or "-", limit):
        return _page("rate_limited", 429, {"Retry-After": "60"})


# --- what the public may see ------------------------------------------------------
_COMPOUND_FIRST = {"عبد", "ابو", "أبو", "أم", "ام"}


def masked_name(name):
    """The first name in full, then the initials of the second and last names:
    "محمد أحمد علي حسن" → "محمد أ*** ح***". A compound first name
    ("عبد الله") stays whole."""
    parts = (name or "").split()
    if not parts:
        return ""
    first = parts.pop(0)
    if first in _COMPOUND_FIRST and parts:
        first = f"{first} {parts.pop(0)}"
    rest = [parts[0], parts[-1]] if len(parts) > 1 else parts
    return " ".join([first] + [f"{p[0]}***" for p in rest])


STATE_LABELS = {
    VALID: _("Valid"),
    EXPIRED: _("Expired"),
    REVOKED: _("Revoked"),
    NOT_FOUND: _("Not found"),
    TAMPERED: _("Invalid signature"),
}
STATE_EXPLANATIONS = {
    VALID: _("This document was issued by the Ministry of Labour and is valid today."),
    EXPIRED: _("This document was issued by the Ministry of Labour, but its validity has ended."),
    REVOKED: _("This document was revoked by the directorate and is no longer valid."),
    NOT_FOUND: _("No document with this serial is registered. Check the serial and try again."),
    TAMPERED: _("The code's signature does not match its serial: this code was not made by the "
                "ministry, or it was altered. Do not accept the document."),
}


def _page(state, status=200, headers=None, **context):
    """The page, always in Arabic (and right to left), whatever language a
    staff member's browser last chose for the back office."""
    with force_locale("ar"):
        html = render_template("verify/page.html", state=state, labels=STATE_LABELS,
                               explanations=STATE_EXPLANATIONS, **context)
    return html, status, headers or {}


def public_facts(doc):
    """Everything the page shows of a document, and nothing else."""
    from .documents import TITLES, kind_of
    valid_from, valid_until = doc.validity()
    return {
        "type": TITLES[kind_of(doc)],
        "serial": doc.serial,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "directorate": doc.directorate.name_ar if doc.directorate else "",
        "name": masked_name(doc.holder_name()),
    }


def lookup(serial, sig=None):
    """(state, facts or None) for a serial, with its QR signature if given."""
    from .scope import unscoped
    clean = normalize_serial(serial)
    if clean is None:
        return NOT_FOUND, None
    if sig is not None and not signature_ok(clean, sig):
        return TAMPERED, None
    # The caller is anonymous: read across directorates, for this lookup only.
    with unscoped():
        state, doc = document_status(db.session, clean)
        facts = public_facts(doc) if doc is not None else None
    return state, facts


# --- pages ------------------------------------------------------------------------
@blueprint.route("/", methods=["GET"])
def form():
    """The form (GET, so no CSRF token is needed); ?serial=… looks it up."""
    typed = request.args.get("serial")
    if typed is None:
        return _page(None, typed="")
    if normalize_serial(typed) is None:
        return _page("bad_serial", 400, typed=typed[:40])
    state, facts = lookup(typed)
    return _page(state, 404 if state == NOT_FOUND else 200, facts=facts, typed=typed[:40])


@blueprint.route("/<path:serial>", methods=["GET"])
def check(serial):
    """The QR link. Without ?sig= it is a typed serial like the form's."""
    sig = request.args.get("sig")
    state, facts = lookup(serial, sig)
    return _page(state, {NOT_FOUND: 404, TAMPERED: 400}.get(state, 200), facts=facts, typed=serial[:40])


def install(app, csrf):
    app.register_blueprint(blueprint)
    csrf.exempt(blueprint)  # GET only; nothing here changes state
