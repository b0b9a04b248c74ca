"""Sijill settings.

Every setting can be given in the environment; the default is what a fresh
checkout uses (embedded SQLite under ``instance/``, demo-friendly). Production
(``SIJILL_ENV=production``) refuses to start with unsafe values — see
``app/production.py``.
"""
import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("SIJILL_INSTANCE_DIR", BASE_DIR / "instance"))
INSTANCE_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _secret_key():
    """SECRET_KEY from the environment, else one generated once into instance/.

    The key signs sessions and the QR signatures of documents, so it must be
    stable across restarts and identical on every worker: never random per
    process, never committed.
    """
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = INSTANCE_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


# --- Environment --------------------------------------------------------------
# "development" (default) or "production"; production checks itself at start-up.
SIJILL_ENV = os.environ.get("SIJILL_ENV", "development")

# --- Database -----------------------------------------------------------------
# DATABASE_URL: SQLAlchemy URL. Default: SQLite file instance/sijill.db.
# PostgreSQL: postgresql+psycopg2://user@host:5432/sijill (postgres:// accepted).
_db_url = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'sijill.db'}"
if _db_url.startswith("postgres://"):
    _db_url = "postgresql://" + _db_url[len("postgres://"):]
SQLALCHEMY_DATABASE_URI = _db_url
SQLALCHEMY_TRACK_MODIFICATIONS = False
# pre_ping: a connection dropped by a database restart is replaced on checkout
# instead of failing the next request.
SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
if _db_url.startswith("postgresql"):
    SQLALCHEMY_ENGINE_OPTIONS.update(
        pool_size=_env_int("DB_POOL_SIZE", 5),
        max_overflow=_env_int("DB_MAX_OVERFLOW", 5),
        pool_recycle=1800,
    )
# LIST_COUNT_CAP: a list counts its rows up to this many and then shows
# "more than N" (FAB's COUNT(*) over the whole table on every page is what
# makes stock admin lists slow at a million rows).
LIST_COUNT_CAP = _env_int("LIST_COUNT_CAP", 10000)

# READ_REPLICA_URL: optional DSN of a streaming replica, used for exports,
# statistics and the dashboard. Empty: the primary serves them.
READ_REPLICA_URL = os.environ.get("READ_REPLICA_URL", "")

# --- Secrets ------------------------------------------------------------------
# SECRET_KEY: signs sessions and the QR codes of documents. Generated into
# instance/secret_key on first run when unset; in production it must be set.
SECRET_KEY = _secret_key()
# DOCUMENT_SIGNING_KEY: key of the QR signatures (defaults to SECRET_KEY).
DOCUMENT_SIGNING_KEY = os.environ.get("DOCUMENT_SIGNING_KEY", SECRET_KEY)

# --- Documents and public verification (app/documents.py, app/verify.py) -------
# VERIFY_BASE_URL: public address of this site as printed in the QR codes
# (e.g. https://sijill.manpower.gov.eg). Empty: the QR holds a path only.
VERIFY_BASE_URL = os.environ.get("VERIFY_BASE_URL", "")
# VERIFY_RATE_LIMIT_PER_MINUTE: lookups per client address per minute on the
# public verification page (per worker process); 0 turns the limit off.
VERIFY_RATE_LIMIT_PER_MINUTE = _env_int("VERIFY_RATE_LIMIT_PER_MINUTE", 30)
# PRINT_BATCH_MAX: most documents one "Print selected" may merge into a PDF
# (about 0.1 s each: 100 stay well inside a 30 s worker timeout).
PRINT_BATCH_MAX = _env_int("PRINT_BATCH_MAX", 100)

# --- Domain rules (domain.md: unconfirmed facts are settings) ------------------
# NATIONAL_ID_STRICT_CHECKSUM: refuse a national ID whose check digit does not
# match the commonly published algorithm. Off: a mismatch is only a warning.
NATIONAL_ID_STRICT_CHECKSUM = _env_bool("NATIONAL_ID_STRICT_CHECKSUM", False)
# MIN_WORKING_AGE: youngest age (years) at which a citizen may register or test.
MIN_WORKING_AGE = _env_int("MIN_WORKING_AGE", 15)
# CRAFT_CARD_VALIDITY_YEARS: validity of a craft practice licence card.
CRAFT_CARD_VALIDITY_YEARS = _env_int("CRAFT_CARD_VALIDITY_YEARS", 5)
# CRAFT_CARD_MAX_FEE: the legal ceiling of the craft card fee (EGP).
CRAFT_CARD_MAX_FEE = _env_int("CRAFT_CARD_MAX_FEE", 500)
# PERMIT_MAX_DAYS: longest validity of a foreign work permit (one year).
PERMIT_MAX_DAYS = _env_int("PERMIT_MAX_DAYS", 366)
# FOREIGN_SHARE_PERCENT: foreigners allowed per establishment, in percent of
# its Egyptian workforce, unless an exception is recorded on the permit.
FOREIGN_SHARE_PERCENT = _env_int("FOREIGN_SHARE_PERCENT", 10)
# BARRED_OCCUPATIONS_FOR_FOREIGNERS: comma-separated occupation codes (ISCO
# unit groups or national codes) that foreigners may not hold.
# Defaults: 5113 travel guides, 3331 clearing and forwarding agents.
BARRED_OCCUPATIONS_FOR_FOREIGNERS = [
    c.strip()
    for c in os.environ.get("BARRED_OCCUPATIONS_FOR_FOREIGNERS", "5113,3331").split(",")
    if c.strip()
]
# SKILL_PASS_MARK: minimum score (out of 100) in both theory and practice.
SKILL_PASS_MARK = _env_int("SKILL_PASS_MARK", 50)
# SKILL_CERT_VALIDITY_YEARS: validity of a skill-level certificate (0 = none).
SKILL_CERT_VALIDITY_YEARS = _env_int("SKILL_CERT_VALIDITY_YEARS", 0)

# --- Demo data ----------------------------------------------------------------
# DEMO_PASSWORD: the one password of every demo account (refused in production).
DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "Sijill@2026")
# OCCUPATION_MATCH_THRESHOLD: fuzzy score (0-100, RapidFuzz WRatio) from which a
# legacy occupation name is matched to the classification without review;
# below it the name waits in the occupation review queue (app/occupation_match.py).
OCCUPATION_MATCH_THRESHOLD = _env_int("OCCUPATION_MATCH_THRESHOLD", 85)

# IMPORT_BATCH_SIZE: rows per transaction (and checkpoint) of `flask sijill
# import`; 0 writes a whole file in one transaction (what the web page does).
IMPORT_BATCH_SIZE = _env_int("IMPORT_BATCH_SIZE", 1000)
# IMPORT_BACKGROUND_ROWS: from this many rows the web page commits a file in
# a background thread, in batches of IMPORT_BATCH_SIZE, and shows its progress.
IMPORT_BACKGROUND_ROWS = _env_int("IMPORT_BACKGROUND_ROWS", 2000)

# DEMO_CITIZENS: how many demo citizens `make run` seeds on first start.
DEMO_CITIZENS = _env_int("DEMO_CITIZENS", 200)

# --- Flask-AppBuilder ---------------------------------------------------------
APP_NAME = "سجل"
APP_ICON = "/static/img/sijill-logo.svg"
FAB_SECURITY_MANAGER_CLASS = "app.security.SijillSecurityManager"
FAB_INDEX_VIEW = "app.home.HomeView"
FAB_API_SWAGGER_UI = True
# app/api_spec.py serves /api/v1/_openapi (FAB's spec with Sijill's error
# shape) and FAB's Swagger UI (/swagger/v1, ministry admins only).
FAB_ADD_OPENAPI_VIEWS = False
FAB_ADD_SECURITY_API = False
FAB_API_MAX_PAGE_SIZE = 100
# API keys (FAB's ab_api_key: only hashes are stored) for the portal service
# account: `flask sijill api-key create --user portal`. Sent as
# "X-API-Key: sjl_…", "Authorization: ApiKey sjl_…" or "Authorization: Bearer sjl_…".
FAB_API_KEY_ENABLED = True
FAB_API_KEY_PREFIXES = ["sjl_"]
# The key is 256 random bits: a slow password hash adds no safety and would
# cost every request tens of milliseconds. (The lookup hash is keyed by SECRET_KEY.)
FAB_API_KEY_HASH_METHOD = "pbkdf2:sha256:1000"
# API_RATE_LIMIT_PER_MINUTE: requests per client (user, API key or address)
# per fixed minute under /api/v1 before 429 (0: no limit). Counted in the
# database, so shared by every gunicorn worker (app/api_limits.py).
API_RATE_LIMIT_PER_MINUTE = _env_int("API_RATE_LIMIT_PER_MINUTE", 120)
AUTH_TYPE = 1  # AUTH_DB
AUTH_ROLE_ADMIN = "Admin"
AUTH_ROLE_PUBLIC = "Public"
AUTH_USER_REGISTRATION = False
WTF_CSRF_ENABLED = True
WTF_CSRF_TIME_LIMIT = None

# --- Language -----------------------------------------------------------------
BABEL_DEFAULT_LOCALE = "ar"
BABEL_DEFAULT_FOLDER = "translations"
LANGUAGES = {
    "ar": {"flag": "eg", "name": "العربية"},
    "en": {"flag": "gb", "name": "English"},
}

# --- Sessions -----------------------------------------------------------------
# The session ends after SESSION_IDLE_MINUTES without a request: every request
# renews the (permanent) session cookie and its signed timestamp (app/hardening.py).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", SIJILL_ENV == "production")
PERMANENT_SESSION_LIFETIME = _env_int("SESSION_IDLE_MINUTES", 30) * 60
SESSION_REFRESH_EACH_REQUEST = True
# FAB logs in with remember=False, so no remember-me cookie is ever set; if one
# is, it has the session cookie's flags and lifetime.
REMEMBER_COOKIE_HTTPONLY = True
REMEMBER_COOKIE_SAMESITE = "Lax"
REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
REMEMBER_COOKIE_DURATION = PERMANENT_SESSION_LIFETIME

# --- HTTP hardening (app/hardening.py) -------------------------------------------
# PROXY_COUNT: reverse proxies in front of the app whose X-Forwarded-For/-Proto
# are trusted (0: none, the default; 1 behind one nginx). Needed for the login
# rate limit to count clients, not the proxy, and for HSTS over HTTPS.
PROXY_COUNT = _env_int("PROXY_COUNT", 0)
# HSTS_DAYS: max-age of Strict-Transport-Security, sent on HTTPS requests only.
HSTS_DAYS = _env_int("HSTS_DAYS", 365)

# --- Scheduler ----------------------------------------------------------------
# SCHEDULER_ENABLED: run APScheduler inside this process (one lease per run
# keeps a job single across workers and hosts).
SCHEDULER_ENABLED = _env_bool("SCHEDULER_ENABLED", False)

# --- Uploads ------------------------------------------------------------------
# MAX_UPLOAD_MB: largest request body; a larger upload is refused with 413
# before it is read. Imports accept .csv and .xlsx only (app/imports.py).
MAX_CONTENT_LENGTH = _env_int("MAX_UPLOAD_MB", 50) * 1024 * 1024

# --- Schema and permissions ---------------------------------------------------
# The schema is Alembic's (`flask db upgrade`), never FAB's create_all; roles
# and permissions are synced by `flask sijill init`, run once per deployment,
# not by every worker at start-up (concurrent workers would race on them).
FAB_CREATE_DB = False
FAB_UPDATE_PERMS = False

# --- Login --------------------------------------------------------------------
# LOGIN_MAX_FAILURES failed logins in a row lock the account LOGIN_LOCK_MINUTES
# (a ministry admin unlocks it earlier: Security → List Users → Unlock).
LOGIN_MAX_FAILURES = _env_int("LOGIN_MAX_FAILURES", 5)
LOGIN_LOCK_MINUTES = _env_int("LOGIN_LOCK_MINUTES", 15)
# LOGIN_RATE_LIMIT: login POSTs per client address (FAB's Flask-Limiter).
# The counts live in RATELIMIT_STORAGE_URI: "memory://" (default) is per
# process, so N gunicorn workers allow up to N times the limit; point it at
# Redis or Memcached (e.g. redis://host:6379) to share one count.
AUTH_RATE_LIMITED = _env_bool("LOGIN_RATE_LIMITED", True)
RATELIMIT_ENABLED = AUTH_RATE_LIMITED  # FAB turns Flask-Limiter off unless told
AUTH_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
RATELIMIT_HEADERS_ENABLED = True
# Password policy (app/passwords.py): 10+ characters, three of the four
# character classes, not containing the username; on every form that sets one.
FAB_PASSWORD_COMPLEXITY_ENABLED = True

# --- Scheduled jobs, statistics and expiry (app/jobs.py, app/stats.py) --------
# SCHEDULER_TIMEZONE: zone of the schedule and of "today" for the jobs'
# periods (the 1st of the month is the 1st in Cairo).
SCHEDULER_TIMEZONE = os.environ.get("SCHEDULER_TIMEZONE", "Africa/Cairo")
# JOB_MONTHLY_STATS_CRON: crontab line of the monthly statistics (compiles
# the previous month). Default: 02:00 on the 1st.
JOB_MONTHLY_STATS_CRON = os.environ.get("JOB_MONTHLY_STATS_CRON", "0 2 1 * *")
# JOB_EXPIRE_CRON: crontab line of the daily expiry. Default: 00:15 daily.
JOB_EXPIRE_CRON = os.environ.get("JOB_EXPIRE_CRON", "15 0 * * *")
# JOB_RETRY_MINUTES: wait before the first retry of a failed run; each next
# retry waits twice as long. JOB_MAX_ATTEMPTS: runs of one period in all.
JOB_RETRY_MINUTES = _env_int("JOB_RETRY_MINUTES", 5)
JOB_MAX_ATTEMPTS = _env_int("JOB_MAX_ATTEMPTS", 5)
# JOB_LEASE_MINUTES: how long a claimed run may take before another process
# may assume its holder died and take it over (longer than any run).
JOB_LEASE_MINUTES = _env_int("JOB_LEASE_MINUTES", 60)
# JOB_SWEEP_MINUTES: how often each scheduler looks for due retries.
JOB_SWEEP_MINUTES = _env_int("JOB_SWEEP_MINUTES", 5)
# EXPIRING_WINDOW_DAYS: documents and permits ending within this many days
# are listed on the "expiring" page of each directorate.
EXPIRING_WINDOW_DAYS = _env_int("EXPIRING_WINDOW_DAYS", 30)

# --- Language (app/i18n.py) ----------------------------------------------------
# LOCALE_COOKIE_DAYS: how long this browser remembers the language chosen in
# the language menu (cookie "sijill_locale"); the session alone forgets it
# after SESSION_IDLE_MINUTES or at logout.
LOCALE_COOKIE_DAYS = _env_int("LOCALE_COOKIE_DAYS", 365)
