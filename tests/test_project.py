"""Project-wide rules: layering, settings, schema."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_ENGINE = ("django", "rest_framework", "celery", "surveys", "analytics.models", "config")


def test_the_analytics_engine_imports_nothing_from_django_or_the_apps() -> None:
    offenders = []
    for path in (ROOT / "analytics" / "engine").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {name}" for name in names if name.startswith(FORBIDDEN_IN_ENGINE)]
    assert offenders == []


def test_production_settings_pass_the_deployment_check() -> None:
    environment = {
        **{key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "x" * 30 + "production-like-secret-key-for-the-check-0123456789",
        "INVITATION_TOKEN_KEY": "k" * 40,
        "ALLOWED_HOSTS": "pulse.example.org",
        "DATABASE_URL": "sqlite:////tmp/check-deploy.sqlite3",
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=environment, capture_output=True, text=True, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_production_settings_refuse_to_start_without_secrets() -> None:
    environment = {key: value for key, value in os.environ.items() if key not in ("SECRET_KEY", "INVITATION_TOKEN_KEY")}
    environment.update(DJANGO_SETTINGS_MODULE="config.settings.production", ALLOWED_HOSTS="pulse.example.org")

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert "Set the SECRET_KEY environment variable" in result.stderr


@pytest.mark.django_db
def test_the_openapi_schema_documents_the_submission_endpoint(client: Client) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    assert set(schema["paths"]["/api/v1/responses/"]["post"]["responses"]) == {
        "201",
        "400",
        "403",
        "409",
        "410",
        "413",
    }


@pytest.mark.django_db
def test_the_api_docs_page_loads_its_assets_from_the_project(client: Client) -> None:
    page = client.get("/api/docs/")

    assert page.status_code == 200
    assert "cdn" not in page.content.decode().lower()
