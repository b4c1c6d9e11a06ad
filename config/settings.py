"""Daihou settings: one module, everything that differs between machines from the environment.

See the README's "Configuration" section for each variable. Development defaults are
safe for a laptop; production (docker-compose.yml) sets DEBUG=0 and the rest explicitly.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
import pgtrigger
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="django-insecure-daihou-development-key-not-for-production")
# localhost is always allowed: container health checks call /healthz on 127.0.0.1.
ALLOWED_HOSTS = [*env.list("ALLOWED_HOSTS", default=[]), "localhost", "127.0.0.1", "[::1]"]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "csp",
    "axes",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "common",
    "borrowers",
    "loans",
    "postloan",
    "portfolio",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Pages compressed (static files come compressed from whitenoise, above, and never reach
    # it): a phone taking its day along fetches ~180 pages. Django's GZip middleware pads
    # its output against BREACH (since 4.2); docs/decisions.md.
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "pghistory.middleware.HistoryMiddleware",
    # Last, as django-axes requires.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navbar",
            ],
        },
    },
]

# --- Engines: PostgreSQL and Redis, always -----------------------------------------------

if not env("DATABASE_URL", default=""):
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. `make run` and `make test` start an embedded PostgreSQL "
        "when it is unset; otherwise point it at a server, e.g. "
        "postgres://postgres@127.0.0.1:5432/daihou"
    )
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A database that does not answer fails a request (and /healthz) in seconds, not never.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("Daihou runs on PostgreSQL only (DATABASE_URL=postgres://...).")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL is not set. `make run` and `make test` start an embedded Redis when it is "
        "unset; otherwise point it at a server, e.g. redis://127.0.0.1:6379/0"
    )


def redis_database(url: str, *, offset: int) -> str:
    """The same Redis server, `offset` databases further on (of the 16 a server has)."""
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(base + offset) % 16}"))


# Under pytest-xdist each test process takes a Redis database of its own, as pytest-django
# gives it a test database of its own: its tests flush the cache, which would empty another
# process's cache and Celery queue. The processes it starts (a Celery worker) inherit that
# database, not the variable, so they do not move it again.
if _test_process := env("PYTEST_XDIST_WORKER", default=""):
    REDIS_URL = redis_database(REDIS_URL, offset=1 + int(_test_process.removeprefix("gw")))
    os.environ["REDIS_URL"] = REDIS_URL
    del os.environ["PYTEST_XDIST_WORKER"]

# The cache degrades to misses while Redis is unreachable (common/cache.py): nothing in it is
# the only copy of anything, so a Redis outage never turns a page into an error.
CACHES = {
    "default": {
        "BACKEND": "common.cache.ResilientRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="daihou"),
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

# --- Celery -----------------------------------------------------------------------------

CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="daihou")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_ENABLE_UTC = True
# A task is acknowledged after it ran, so a worker lost mid-task hands it to another worker;
# every task is therefore written to be safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Redis re-delivers an unacknowledged task after the visibility timeout; the hard time limit
# stays below it so that a task still running is never handed to a second worker.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 3600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=3600)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
# A web request that enqueues while Redis is down fails fast instead of hanging.
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker and beat that lose Redis keep trying to reconnect (every 2 s, then up to every
# 30 s) for as long as it takes, instead of exiting after Celery's default 100 attempts.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BEAT_SCHEDULE_FILENAME = env(
    "CELERY_BEAT_SCHEDULE_FILENAME", default=str(BASE_DIR / ".data" / "celerybeat-schedule")
)
# The whole beat schedule, in one place. Times are Asia/Shanghai.
CELERY_BEAT_SCHEDULE: dict = {
    # The night's batch as one chain (portfolio.nightly): month-end snapshot, classification,
    # inspection planning, early warnings, dashboard refresh, each after the previous one
    # finished, whatever each takes. Starting it twice joins the night under way.
    "night-chain": {
        "task": "portfolio.tasks.start_night",
        "schedule": crontab(hour=0, minute=30),
    },
    # Resumes a step whose worker was lost (its heartbeat stopped) or a chain that stalled.
    "night-watchdog": {
        "task": "portfolio.tasks.watch_night",
        "schedule": crontab(minute="*"),
    },
    "inspection-reminders-morning": {
        "task": "postloan.tasks.send_inspection_reminders",
        "schedule": crontab(hour=7, minute=30),
    },
}
# The night's steps (portfolio.nightly): a running step writes a heartbeat this often; one
# silent for NIGHT_STALE_SECONDS lost its worker and is resumed by the watchdog, at most
# NIGHT_MAX_ATTEMPTS times in all before it is failed.
NIGHT_HEARTBEAT_SECONDS = env.float("NIGHT_HEARTBEAT_SECONDS", default=15)
NIGHT_STALE_SECONDS = env.float("NIGHT_STALE_SECONDS", default=120)
NIGHT_MAX_ATTEMPTS = env.int("NIGHT_MAX_ATTEMPTS", default=3)
# Loans per committed chunk of the classification (postloan.risk.nightly).
CLASSIFY_CHUNK_SIZE = env.int("CLASSIFY_CHUNK_SIZE", default=250_000)

# --- Auth, sessions, security --------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
ADMIN_URL = env("ADMIN_URL", default="admin/")
if not ADMIN_URL.endswith("/") or ADMIN_URL.startswith("/"):
    raise ImproperlyConfigured("ADMIN_URL is a relative path ending with '/', e.g. 'backoffice/'.")

# Login throttling: five failures in a row lock the account for a while; the lockout is logged.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
# Lock the account, not the address: branches sit behind one NAT address, and locking
# it after five typos would lock out the whole branch (hence axes.W006 is silenced).
AXES_LOCKOUT_PARAMETERS = ["username"]
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# axes keeps the failed request's form; the password page's fields are masked in it like the
# login's password (a wrong old password is a failed login, common.passwords).
AXES_SENSITIVE_PARAMETERS = [
    "username",
    "ip_address",
    "old_password",
    "new_password1",
    "new_password2",
]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0) or None

SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
# Sessions live in the database only: a page keeps working while Redis is down, and a logout
# cannot be undone by a stale cached copy coming back with Redis (docs/decisions.md; the
# cost, about half a millisecond a request, in docs/benchmarks.md, bench/sessions.py).
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
# TLS is normally terminated by the reverse proxy, which redirects http to https itself.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Scripts from our own origin only: no inline scripts, no CDN, no eval.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Internationalisation: English and Simplified Chinese ----------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

# --- Static and uploaded files ---------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env(
            "STATICFILES_STORAGE",
            default="django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}
# Whitenoise serves the static files; `make run` (DEBUG off) has it read them from the source
# folders, as they change, instead of from collectstatic's output.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)
WHITENOISE_AUTOREFRESH = env.bool("WHITENOISE_AUTOREFRESH", default=DEBUG)
# Uploaded files are never served directly: views check access and stream them.
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / ".data" / "media")))
MEDIA_URL = "/media-not-served/"
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

# --- Forms, e-mail, audit, logging ----------------------------------------------------------

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# EMAIL_URL, e.g. smtp+tls://user:password@smtp.example.com:587, sets EMAIL_BACKEND,
# EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD and EMAIL_USE_TLS / _SSL.
globals().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Daihou <daihou@localhost>")
# The portal's address, for links in e-mails (which have no request to take it from).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Audit history tables are append-only: a trigger rejects UPDATE and DELETE on them.
PGHISTORY_APPEND_ONLY = True
# One statement-level trigger per statement, reading the statement's transition tables:
# the same events as row-level triggers, written with one INSERT ... SELECT instead of a
# plpgsql call per row (bulk imports, the nightly run and planning write millions of rows).
PGHISTORY_LEVEL = pgtrigger.Statement
PGHISTORY_ADMIN_MODEL = "pghistory.MiddlewareEvents"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "axes": {"level": "WARNING"},
    },
}

# --- The business's own settings -----------------------------------------------------------

# An import that creates at least this many loans, and at least as many as the portal holds,
# is a first load: the borrower and loan tables' indexes and keys are built after its rows
# (portfolio.importing._first_load, docs/decisions.md).
DAIHOU_IMPORT_FIRST_LOAD_MIN_LOANS = env.int("DAIHOU_IMPORT_FIRST_LOAD_MIN_LOANS", default=5000)
DAIHOU_DEMO_PASSWORD = env("DAIHOU_DEMO_PASSWORD", default="daihou-demo-2026")
# The field app: what a phone keeps of the officer's day expires after this many days without
# a sync (the phone then shows nothing until it is online again).
FIELD_CACHE_DAYS = env.int("FIELD_CACHE_DAYS", default=7)
