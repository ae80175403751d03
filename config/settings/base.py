"""Settings shared by every environment.

Everything that differs between machines comes from the environment through
django-environ, parsed into types. With nothing set, the project runs on the
embedded default: SQLite and Celery tasks executed in-process.
"""

from datetime import timedelta
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from config.env import BASE_DIR, env

SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "surveys",
    "analytics",
    "dashboards",
    "exports",
    "accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out sign-in into the lockout page.
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
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# DATABASE_URL selects PostgreSQL in production and CI; the embedded default is
# a SQLite file. CONN_MAX_AGE matters: reconnecting per request cost 2.7x
# throughput on the submission path when measured.
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}",
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serialises writers; wait for the lock instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The axes backend comes first: it refuses a locked-out sign-in before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Internationalisation -----------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Sessions and cookies -----------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 8)
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"  # survey routes get no-referrer (config.middleware)
SECURE_CONTENT_TYPE_NOSNIFF = True
# Survey submissions are small; anything larger is refused before parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Redis, Celery ------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = REDIS_URL or None
# Embedded default: with no broker configured, tasks run in-process.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = timedelta(hours=1)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "surveys.*": {"queue": "default"},
    "accounts.*": {"queue": "default"},
    "email.*": {"queue": "email"},
    "analytics.*": {"queue": "analytics"},
    "exports.*": {"queue": "exports"},
}
CELERY_BEAT_SCHEDULE = {
    "open-due-waves": {"task": "surveys.open_due_waves", "schedule": timedelta(minutes=1)},
    "close-due-waves": {"task": "surveys.close_due_waves", "schedule": timedelta(minutes=1)},
    "release-pending-pools": {
        "task": "surveys.release_pending_pools",
        "schedule": timedelta(minutes=30),
    },
    "send-due-reminders": {"task": "email.send_due_reminders", "schedule": timedelta(hours=1)},
    "clear-expired-sessions": {"task": "surveys.clear_expired_sessions", "schedule": timedelta(hours=6)},
    "reset-stuck-analytics-runs": {"task": "analytics.reset_stuck_runs", "schedule": timedelta(minutes=5)},
    "reset-stuck-exports": {"task": "exports.reset_stuck_exports", "schedule": timedelta(minutes=5)},
    "delete-expired-exports": {"task": "exports.delete_expired_exports", "schedule": timedelta(hours=1)},
    "delete-expired-login-attempts": {"task": "accounts.delete_expired_login_attempts", "schedule": timedelta(hours=1)},
}

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }

# --- Email --------------------------------------------------------------------
# EMAIL_URL, e.g. smtp+tls://user:password@smtp.example.org:587; with none set,
# messages are written as files to var/mail/ for a developer to read.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = BASE_DIR / "var" / "mail"
# Neutral sender: nothing a person nearby could read names the subject matter.
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Coalition Pulse <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Django REST framework ----------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "surveys.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Coalition Pulse API",
    "DESCRIPTION": "Submission, set-up and results API. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# API tokens (django-rest-knox): only a SHA-512 digest of each token is stored, the token is shown
# once, and it expires. "Token" stays the Authorization prefix, as with the tokens it replaces.
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env.int("API_TOKEN_TTL_DAYS", default=30)),
    "TOKEN_LIMIT_PER_USER": env.int("API_TOKEN_LIMIT_PER_USER", default=5),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}

# --- Sign-in throttling (django-axes) -------------------------------------------
# Every sign-in goes through django.contrib.auth.authenticate with the request: the site and
# admin login pages and POST /api/v1/auth/token/. Survey routes never authenticate, so axes
# neither sees nor stores anything about respondents.
# Two counters, both over the last AXES_COOLOFF_TIME:
# - one (username, address) pair: LOGIN_FAILURES_PER_ADDRESS failures are answered with the usual
#   error, the next one locks that pair;
# - one username from every address: a higher LOGIN_FAILURES_PER_USERNAME, so that a guesser
#   spread over many addresses is stopped too, while locking a leader out takes far more than a
#   handful of tries. A locked-out person can always get in at once by resetting the password by
#   email, which clears the lockout (accounts.views.PasswordResetConfirmView).
AXES_ENABLED = True
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=5)
LOGIN_FAILURES_PER_USERNAME = env.int("LOGIN_FAILURES_PER_USERNAME", default=20)
# axes locks on the failure that reaches its limit, hence + 1.
AXES_FAILURE_LIMIT = LOGIN_FAILURES_PER_ADDRESS + 1
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]
AXES_HANDLER = "accounts.lockout.LoginAttemptsHandler"
AXES_COOLOFF_TIME = timedelta(hours=1)
AXES_RESET_ON_SUCCESS = True
# Keep personal data minimal: no log of successful sign-ins, no separate failure log, and no
# user agents in log lines (usernames and addresses are masked there by AXES_SENSITIVE_PARAMETERS).
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_ip_address"
# The client address is REMOTE_ADDR unless the site runs behind this many reverse proxies, each
# appending to X-Forwarded-For; then it is the address the outermost proxy saw. Never trust the
# header without a proxy that overwrites it: a client could name any address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Password reset requests per email address per hour; more are silently not sent.
PASSWORD_RESET_REQUESTS_PER_HOUR = env.int("PASSWORD_RESET_REQUESTS_PER_HOUR", default=3)
PASSWORD_RESET_TIMEOUT = 60 * 60 * 3

# --- Coalition Pulse ----------------------------------------------------------
# Key for deriving invitation tokens (HMAC); only a hash of each token is stored.
INVITATION_TOKEN_KEY = env.str("INVITATION_TOKEN_KEY", default="")
# Where the Exit button sends a respondent: a neutral, everyday site.
SURVEY_EXIT_URL = env.str("SURVEY_EXIT_URL", default="https://www.wikipedia.org/")
# Public address used in invitation emails.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
# The pending pool is released while a wave is open only in batches this big.
PENDING_RELEASE_MIN_BATCH = env.int("PENDING_RELEASE_MIN_BATCH", default=10)
# Researcher exports: where the zips are written (shared by the exports workers and the web
# servers, never served as static files), how long and how often a ready zip can be downloaded.
EXPORTS_ROOT = Path(env.str("EXPORTS_ROOT", default=str(BASE_DIR / "var" / "exports")))
EXPORT_DOWNLOAD_HOURS = env.int("EXPORT_DOWNLOAD_HOURS", default=72)
EXPORT_MAX_DOWNLOADS = env.int("EXPORT_MAX_DOWNLOADS", default=3)
# Largest accepted submission body, in bytes.
SUBMISSION_MAX_BYTES = env.int("SUBMISSION_MAX_BYTES", default=64 * 1024)

# Every handler carries the redaction filter, and every logger Django configures by default
# ("django", "django.server"; django.request and django.security.* propagate to "django") is given
# the project's handler, which replaces Django's own: its console handler (shown with DEBUG=True)
# and mail_admins (a 500 email would carry the request path and headers) have no filter.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_survey_paths": {"()": "config.logging.RedactSurveyPathsFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_survey_paths"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "django.security": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # axes logs every attempt at INFO; lockouts and failures (addresses masked) are WARNING.
        "axes": {"level": "WARNING"},
        # One line per task run is noise in development; workers log their own.
        "celery.app.trace": {"level": env.str("CELERY_TRACE_LOG_LEVEL", default="WARNING")},
    },
}
