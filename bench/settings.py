"""Settings for the submission benchmark: production-like, on a dedicated PostgreSQL database.

The database comes from BENCH_DATABASE_URL, not DATABASE_URL, so that a shell
set up for the project cannot point the benchmark (which drops and creates its
database) at real data.
"""

import warnings

from config.env import env
from config.settings.base import *  # noqa: F403
from config.settings.base import INSTALLED_APPS

BENCH_DATABASE_URL = env.str("BENCH_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/coalition_pulse_bench")

DEBUG = False
SECRET_KEY = "bench-only-not-secret-" + "x" * 40  # noqa: S105
INVITATION_TOKEN_KEY = "bench-invitation-key-not-secret-0123456789"  # noqa: S105
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.urls"
INSTALLED_APPS = [*INSTALLED_APPS, "bench"]

DATABASES = {"default": env.db_url_config(BENCH_DATABASE_URL)}
# Persistent connections, as in production: one per gunicorn thread.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# An experiment (`--server-side-binding`): psycopg prepares statements it sees repeatedly,
# so PostgreSQL plans each query shape once per connection instead of once per request.
DATABASES["default"]["OPTIONS"] = {"server_side_binding": env.bool("BENCH_SERVER_SIDE_BINDING", default=False)}

# No broker: the invitation emails of `wave_open` run in-process, into memory.
CELERY_BROKER_URL = "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

# The API is measured, not static files: nothing has been collected into STATIC_ROOT.
warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
