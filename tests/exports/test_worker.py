"""An export built by a real Celery worker on the `exports` queue (skipped without REDIS_URL; nothing mocked)."""

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from analytics import services as analytics_services
from exports.models import Export
from surveys.models import Coalition, Instrument
from tests.analytics.conftest import closed_wave_with
from tests.exports.conftest import people, researcher_with_grant
from tests.surveys.test_worker import _wait_for, requires_worker, worker  # noqa: F401 (the fixture)


@pytest.fixture
def shared_exports_root(monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Path) -> Path:
    """One folder for this process and the worker it starts (the worker reads EXPORTS_ROOT at start)."""
    root = tmp_path / "exports"
    monkeypatch.setenv("EXPORTS_ROOT", str(root))
    settings.EXPORTS_ROOT = root
    return root


@requires_worker
@pytest.mark.worker
@pytest.mark.usefixtures("shared_exports_root", "worker")
def test_the_worker_builds_the_export_and_the_researcher_downloads_it(
    coalition: Coalition, instrument: Instrument, shared_exports_root: Path
) -> None:
    wave = closed_wave_with(coalition, instrument, people())
    analytics_services.breakdowns_compute(wave_id=wave.pk)
    client = APIClient()
    client.force_authenticate(researcher_with_grant(coalition))

    response = client.post("/api/v1/exports/", {"waves": [wave.pk]}, format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "pending"
    export_id = response.json()["id"]
    _wait_for(lambda: Export.objects.get(pk=export_id).status in ("succeeded", "failed"), 120)
    export = Export.objects.get(pk=export_id)
    assert (export.status, export.error, export.progress) == ("succeeded", "", 100)
    assert [path.name for path in shared_exports_root.iterdir()] == [export.file_name]
    download = client.get(f"/api/v1/exports/{export_id}/download/")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert "microdata.sav" in archive.namelist()
    assert len(archive.read("microdata.csv").decode().splitlines()) == 61  # header + 60 responses
