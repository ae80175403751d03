"""Settings for `make run` on a developer's machine: the embedded default."""

from config.env import env
from config.settings.base import *  # noqa: F403

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="local-development-only-not-secret")
INVITATION_TOKEN_KEY = env.str("INVITATION_TOKEN_KEY", default="local-invitation-key-not-secret")
