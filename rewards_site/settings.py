"""Settings, read from the environment (django-environ).

With no environment at all the project runs on the *embedded default*:
SQLite in the project folder (WAL, immediate transactions), Celery tasks run
eagerly in-process, a development secret and DEBUG on. See README.md for
every variable.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. DEBUG is off, so this is a production start and a "
            "secret key is required: set the SECRET_KEY environment variable to a long "
            "random string (python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    SECRET_KEY = DEV_SECRET_KEY

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from STATIC_URL (no CDN)
    "django_celery_beat",
    "axes",
    "csp",
    "simple_history",
    "orgs",
    "events",
    "wallets",
    "coupons",
    "catalogue",
    "backoffice",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # "Browser…" middleware: Django's own, skipped on the vendor API paths (rewards_site/middleware.py).
    "rewards_site.middleware.BrowserSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "rewards_site.middleware.BrowserAuthenticationMiddleware",
    "rewards_site.middleware.BrowserMessageMiddleware",
    "rewards_site.middleware.BrowserXFrameOptionsMiddleware",
    "rewards_site.middleware.BrowserCSPMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: turns a refused admin login into its lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "rewards_site.urls"
WSGI_APPLICATION = "rewards_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# Embedded default: SQLite in the project folder. On PostgreSQL connections are
# kept open (CONN_MAX_AGE): a new connection per request costs two thirds of the
# throughput on this machine kind (see docs and docs/perf-baseline.md).
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db.setdefault("OPTIONS", {}).update(
        {
            # BEGIN IMMEDIATE takes the write lock up front: no "database is locked"
            # upgrade failures between a read and a write of the same transaction.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;PRAGMA busy_timeout=20000;"
            ),
        }
    )
    # SQLite builds a covering index without its INCLUDE columns: they serve PostgreSQL's
    # index-only scans only (wallets migration 0014), and SQLite's index is the same without them.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
else:
    _db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
    # A connection the server closed (restart, proxy timeout) is replaced before a request uses
    # it. The check asks the socket first and runs SELECT 1 only when the server has said
    # something (rewards_site/postgresql/base.py): no round trip per request.
    if _db["ENGINE"] == "django.db.backends.postgresql":
        _db["ENGINE"] = "rewards_site.postgresql"
    _db["CONN_HEALTH_CHECKS"] = True
    # Behind a pooler in transaction mode (PgBouncer, DATABASE_TRANSACTION_POOLING=1) the server
    # session changes between transactions (docs/scaling.md "Running behind PgBouncer"): no
    # server-side cursors (Django's .iterator() declares one WITH HOLD), and no prepared statements
    # unless the pooler tracks them (PgBouncer >= 1.21 with max_prepared_statements > 0: then set
    # DATABASE_SERVER_SIDE_BINDING=1 too).
    _pooled = env.bool("DATABASE_TRANSACTION_POOLING", default=False)
    _db["DISABLE_SERVER_SIDE_CURSORS"] = _pooled
    # Server-side parameters, and prepared statements on top of them: psycopg prepares a statement
    # the connection has run DATABASE_PREPARE_THRESHOLD times (Django leaves that off unless OPTIONS
    # names it), so the hot calls' lookups are parsed and planned once per connection, not per call
    # (docs/scaling.md, "Prepared statements"). 0 prepares every statement at once; -1 none.
    _server_side = env.bool("DATABASE_SERVER_SIDE_BINDING", default=not _pooled)
    _db.setdefault("OPTIONS", {})["server_side_binding"] = _server_side
    _prepare_threshold = env.int("DATABASE_PREPARE_THRESHOLD", default=5)
    if _server_side and _prepare_threshold >= 0:
        _db["OPTIONS"]["prepare_threshold"] = _prepare_threshold
if env.str("TEST_DATABASE_NAME", default=""):
    _db.setdefault("TEST", {})["NAME"] = env.str("TEST_DATABASE_NAME")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, Celery -----------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Redis down or unreachable must cost a call milliseconds, not hang it (rate limits fail open).
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# How long a worker may keep using API credentials it has read (a revoked or rotated key stops
# working within this many seconds); 0 reads them on every call.
CREDENTIALS_CACHE_SECONDS = env.int("CREDENTIALS_CACHE_SECONDS", default=30)

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
# django-celery-beat's database scheduler, touching BEAT_HEARTBEAT_FILE (when set) on every tick.
CELERY_BEAT_SCHEDULER = "rewards_site.beat:HeartbeatScheduler"
BEAT_HEARTBEAT_FILE = env.str("BEAT_HEARTBEAT_FILE", default="")
CELERY_TIMEZONE = "UTC"
# A dead or unreachable Redis must not hang an API call that queues a task after its commit:
# short socket timeouts, and publishing does not retry (events.outbox; the outbox sweep catches up).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 1,
    "socket_timeout": 2,
    "max_connections": 50,
    # Publishing: one connection attempt, no back-off (the default retries for ~2 s per call).
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    # Longer than the longest countdown/ETA a task gets, so Redis does not hand it out twice.
    "visibility_timeout": 3600,
}
CELERY_TASK_PUBLISH_RETRY = False
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True

# --- Scheduled jobs and events (README "Scheduled jobs and events") -----------------------------
# Minutes between webhook attempts after a failure; after the last one the delivery is dead-lettered.
WEBHOOK_RETRY_MINUTES = env.list("WEBHOOK_RETRY_MINUTES", default=["5", "30", "120", "360"])
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Webhook body formats other than the native envelope, by the name an endpoint's ``format`` gives:
# the outbox renders them by name, without importing the wire formats above it.
WEBHOOK_BODY_FORMATS = {"appvirality": "appvirality.webhooks.webhook_document"}
# Events not dispatched this long after their commit (Redis was down, a worker died) are queued again.
OUTBOX_SWEEP_AFTER_SECONDS = env.int("OUTBOX_SWEEP_AFTER_SECONDS", default=60)
# The publisher thread gathers the events committed within this many seconds into one task.
EVENTS_PUBLISH_BATCH_SECONDS = env.float("EVENTS_PUBLISH_BATCH_SECONDS", default=0.2)
# Housekeeping retention.
IDEMPOTENCY_RETENTION_HOURS = env.int("IDEMPOTENCY_RETENTION_HOURS", default=48)
REDEMPTION_CALL_RETENTION_DAYS = env.int("REDEMPTION_CALL_RETENTION_DAYS", default=180)
OUTBOX_RETENTION_DAYS = env.int("OUTBOX_RETENTION_DAYS", default=30)
# Vendor rewards: a call still open this many seconds after its vendor timeout is settled by recovery.
VENDOR_RECOVERY_MARGIN_SECONDS = env.int("VENDOR_RECOVERY_MARGIN_SECONDS", default=60)
# Reconciliation: wallets (and rows of the other checks) per batch.
RECONCILE_BATCH_SIZE = env.int("RECONCILE_BATCH_SIZE", default=100_000)

# --- API ----------------------------------------------------------------------
# Request limits of every API body (core.request_body; README "Security", "Request limits"):
# bytes (Django's own DATA_UPLOAD_MAX_MEMORY_SIZE is the same number) and nesting depth of the JSON.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=6000)  # per app; 0 = off
RATELIMIT_FAIL_OPEN = True  # the cache (Redis) down must not take the APIs down with it

# Failed till Basic authentications allowed per till name and per client address ("<count>/<period>",
# django-ratelimit's rates: s, m, h, d, e.g. "10/5m"; empty turns that limit off). Over either one
# the API answers 429 without computing a password hash. Counted in the cache (Redis: shared by
# every process; fails open if Redis is down).
TILL_AUTH_FAILURES_PER_TILL = env.str("TILL_AUTH_FAILURES_PER_TILL", default="10/5m")
TILL_AUTH_FAILURES_PER_ADDRESS = env.str("TILL_AUTH_FAILURES_PER_ADDRESS", default="50/5m")
# The client address of throttles and lockouts (core/client_address.py): REMOTE_ADDR, or, with N
# reverse proxies in front that each append to X-Forwarded-For, the N-th entry from its right.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
RATELIMIT_IP_META_KEY = "core.client_address.client_address"
# Wrong validation codes a customer's live code survives (then it is void).
VALIDATION_CODE_MAX_ATTEMPTS = env.int("VALIDATION_CODE_MAX_ATTEMPTS", default=5)

# Issue Reward (Capillary): till Basic-auth checks remembered in memory, OAuth token lifetime,
# and the sandbox vendor (/sandbox/vendor/issue), on with DEBUG or SANDBOX_VENDOR=1.
TILL_AUTH_CACHE_SECONDS = env.int("TILL_AUTH_CACHE_SECONDS", default=300)
# Seconds a worker keeps catalogue rewards (with payment configs, promotion, segments) it has read.
CATALOGUE_CACHE_SECONDS = env.int("CATALOGUE_CACHE_SECONDS", default=5)
# Issue Reward: a call of local rewards in one statement on PostgreSQL (catalogue/issue_statement.py);
# off, the step-by-step Python path (the one SQLite always takes) runs there too.
ISSUE_ONE_STATEMENT = env.bool("ISSUE_ONE_STATEMENT", default=True)
# Redeem Rewards by amount and by pool as one statement on PostgreSQL (wallets/redeem.py); off:
# every call step by step, as on SQLite (the tests run both).
REDEEM_ONE_STATEMENT = env.bool("REDEEM_ONE_STATEMENT", default=True)
OAUTH_TOKEN_TTL_SECONDS = env.int("OAUTH_TOKEN_TTL_SECONDS", default=300)
VALIDATION_CODE_TTL_SECONDS = env.int("VALIDATION_CODE_TTL_SECONDS", default=300)
SANDBOX_VENDOR = DEBUG or env.bool("SANDBOX_VENDOR", default=False)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.request_body.JSONBodyParser"],
    "DEFAULT_METADATA_CLASS": "core.api_metadata.PublicMetadata",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Rewards engine",
    "DESCRIPTION": (
        "Self-hosted rewards engine speaking the AppVirality Redeem Rewards API and the "
        "Capillary Issue Reward API. Money-like values are strings with two decimals."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from this service's own static files (drf-spectacular-sidecar, pinned), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge from validator.swagger.io: the page asks no other host for anything.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# --- Auth, i18n, static -------------------------------------------------------
# Admin login lockout (django-axes): after AXES_FAILURE_LIMIT wrong passwords the login is refused
# (HTTP 429), the right password too, until AXES_COOLOFF_MINUTES pass (0: until support unlocks it
# with `python manage.py axes_reset_username <name>`; README "Security"). ADMIN_LOCKOUT_BY: what
# is counted: "username", "ip_address", both, each on its own ("username,ip_address": a name tried
# from anywhere, an address trying any names), or their combination ("username+ip_address").
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
_axes_cooloff = env.int("AXES_COOLOFF_MINUTES", default=30)
AXES_COOLOFF_TIME = timedelta(minutes=_axes_cooloff) if _axes_cooloff > 0 else None
_lockout_by = env.list("ADMIN_LOCKOUT_BY", default=["username", "ip_address"])
AXES_LOCKOUT_PARAMETERS = [part.split("+") if "+" in part else part for part in _lockout_by]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "core.client_address.client_address"
AXES_VERBOSE = False  # no banner on every start; lockouts are logged all the same

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")  # where collectstatic writes
if not DEBUG:  # runserver serves static files itself in development
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # WhiteNoise serves the admin's static files from gunicorn (compose, production).
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)

# --- TLS and security headers (README "Security"): all off by default, for the embedded default
# and the plain-http compose stack; behind TLS turn them on (.env.example). --------------------
# "HTTP_X_FORWARDED_PROTO,https": a request is secure when the TLS proxy says so (set it only if
# the proxy always sets or strips that header).
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header:
    if len(_proxy_ssl_header) != 2:
        raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER is '<header>,<value>', e.g. HTTP_X_FORWARDED_PROTO,https")
    SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the container healthcheck calls it over plain http
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)  # sent on https responses only
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Content-Security-Policy (django-csp): "off", "report-only" or "enforce". Everything from this
# origin; inline scripts only with the page's nonce; inline styles allowed (the admin's own pages
# and Swagger UI use them); data: images (Swagger UI's icons); no framing, no plugins.
CONTENT_SECURITY_POLICY_MODE = env.str("CONTENT_SECURITY_POLICY", default="off")
if CONTENT_SECURITY_POLICY_MODE not in ("off", "report-only", "enforce"):
    raise ImproperlyConfigured("CONTENT_SECURITY_POLICY is off, report-only or enforce")
CONTENT_SECURITY_POLICY_CONFIG = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY_CONFIG if CONTENT_SECURITY_POLICY_MODE == "enforce" else None
CONTENT_SECURITY_POLICY_REPORT_ONLY = (
    CONTENT_SECURITY_POLICY_CONFIG if CONTENT_SECURITY_POLICY_MODE == "report-only" else None
)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# One handler for everything, on the root logger. Django's own "django" logger comes with a console
# handler (while DEBUG is on) and propagates to the root: left as it is, every line of runserver
# ("Watching for file changes", "Bad Request: ...") is printed twice. Configuring "django" resets its
# children, so "django.server" (runserver's access lines) gets back Django's own format here.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"}
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}
