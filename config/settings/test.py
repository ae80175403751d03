"""Settings for the test suite: the embedded default unless DATABASE_URL / REDIS_URL are set."""

import os
from pathlib import Path

from config.env import BASE_DIR, env
from config.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-only-not-secret"  # noqa: S105
INVITATION_TOKEN_KEY = "test-invitation-key"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# The test client's login() calls authenticate() without a request, which the axes backend refuses;
# the sign-in tests (tests/accounts/) switch axes on.
AXES_ENABLED = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared-cache memory: SQLite's shared cache locks whole tables
    # without waiting, which would make the concurrency tests meaningless.
    # One file per run, so that two runs on one machine never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")}  # noqa: F405

# One exports folder per run, like the database file (a worker started by a test is given the test's).
EXPORTS_ROOT = Path(env.str("EXPORTS_ROOT", default=str(BASE_DIR / "var" / f"test-exports-{os.getpid()}")))

if REDIS_URL:  # noqa: F405
    # The cache gets a Redis database of its own, apart from the broker's (the accounts tests clear
    # it), and one per pytest-xdist process (gw0, gw1…), so that parallel tests never share it.
    _base, _slash, _database = REDIS_URL.rpartition("/")  # noqa: F405
    _process = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    _cache_database = (int(_database) if _database.isdigit() else 0) - 1 - _process
    CACHES = {  # noqa: F405
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"{_base}/{_cache_database % 16}",
        }
    }
