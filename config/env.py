"""Typed access to the environment, shared by every settings module."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# A local `.env` file is optional; real deployments set variables directly.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
