"""Researcher exports through the API and the job (issue 5): access, files, downloads, reliability, audit log."""

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from django.contrib.auth.models import User
from django.test import TestCase
from django.utils import timezone
from pycanon import anonymity
from rest_framework.test import APIClient

from exports import services, tasks
from exports.microdata import SUPPRESSED
from exports.models import Export
from surveys.models import AuditEvent, Coalition, Instrument, Wave
from tests.analytics.conftest import all_cells, login_with_role
from tests.exports.conftest import Setup, published_wave, request_export, researcher_with_grant

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:In a future version, the keys of `groups`")]
QUASI_IDENTIFIERS = [
    "sector",
    "gender",
    "race_ethnicity",
    "financial",
    "pay_status",
    "org_budget",
    "role_level",
    "lived_experience",
    "age",
    "tenure",
]


def rows_of(frame: pd.DataFrame, columns: list[str]) -> list[tuple[float, ...]]:
    """The multiset of rows, comparable across files (a missing score as -999)."""
    return sorted(map(tuple, frame[columns].astype(float).fillna(-999.0).to_numpy().tolist()))


def download(client: APIClient, export: Export) -> zipfile.ZipFile:
    response = client.get(f"/api/v1/exports/{export.pk}/download/")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    assert response["Cache-Control"] == "no-store"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_an_export_of_a_closed_wave_holds_every_format_codebook_aggregates_and_report(
    setup: Setup, tmp_path: Path
) -> None:
    response = request_export(setup.client, [setup.wave.pk])

    assert response.status_code == 201, response.content
    export = Export.objects.get()
    assert (export.status, export.stage, export.progress, export.error) == ("succeeded", "done", 100, "")
    body = setup.client.get(f"/api/v1/exports/{export.pk}/").json()
    assert body["download_url"] == f"http://testserver/api/v1/exports/{export.pk}/download/"
    assert body["downloads_left"] == 3
    archive = download(setup.client, export)
    assert sorted(archive.namelist()) == [
        f"aggregates/wave-{setup.wave.pk}-breakdowns.csv",
        f"aggregates/wave-{setup.wave.pk}-pair-matrix.csv",
        "codebook.en.md",
        "codebook.es.md",
        "datapackage.json",
        "disclosure-report.json",
        "microdata.csv",
        "microdata.dta",
        "microdata.parquet",
        "microdata.sav",
    ]
    csv = pd.read_csv(io.BytesIO(archive.read("microdata.csv")))
    parquet = pd.read_parquet(io.BytesIO(archive.read("microdata.parquet")))
    assert len(csv) == len(parquet) == 60
    assert sorted(csv["row"]) == list(range(1, 61))
    data_columns = [column for column in csv.columns if column != "row"]
    # The same rows in every file, in another order, numbered afresh.
    assert rows_of(csv, data_columns) == rows_of(parquet, data_columns)
    assert not csv[data_columns].equals(parquet[data_columns])
    for name in ("microdata.sav", "microdata.dta"):
        path = Path(archive.extract(name, path=tmp_path))
        if name.endswith("sav"):  # read the user-missing codes as they are, not as NaN
            frame, meta = pyreadstat.read_sav(str(path), user_missing=True)
        else:
            frame, meta = pyreadstat.read_dta(str(path))
        assert len(frame) == 60
        assert rows_of(frame, data_columns) == rows_of(csv, data_columns)
        assert meta.variable_value_labels["power_1"][1.0 if name.endswith("sav") else 1] == "Strongly disagree"
    # "Don't know" and "no working relationship" keep codes of their own, on SQLite and on PostgreSQL alike.
    assert csv["power_2"].isin([-8]).sum() == 1
    assert csv["pair_funders"].isin([-6]).sum() == 1
    assert sorted(csv["power_1"].unique().tolist()) == [1, 2, 3, 4, 5]
    # Nothing that could identify or link: no free text, no ids, no timestamps, no raw dimension options.
    assert "comment" not in csv.columns
    assert not any(column.startswith(("gender_", "id", "uuid", "token", "submitted")) for column in csv.columns)
    # k-anonymity of the released quasi-identifiers, by pyCANON.
    kept = [column for column in QUASI_IDENTIFIERS if column in csv.columns]
    # Gender is dropped (two genders in four sectors leave classes below 5); the other answers are constant
    # but financial well-being, so the classes are sector × financial: 18, 8, 16, 11 and 7 people.
    assert kept == ["sector", "race_ethnicity", "financial", "pay_status", "org_budget", "role_level", "age", "tenure"]
    assert anonymity.k_anonymity(csv[kept].astype(str), kept) == 7
    report = json.loads(archive.read("disclosure-report.json"))
    assert [wave["k"] for wave in report["waves"]] == [5]
    assert report["waves"][0]["rows"] == 60
    package = json.loads(archive.read("datapackage.json"))
    microdata_resource = package["resources"][0]
    assert (microdata_resource["path"], microdata_resource["profile"]) == ("microdata.csv", "tabular-data-resource")
    assert [field["name"] for field in microdata_resource["schema"]["fields"]] == list(csv.columns)
    assert package["x-disclosure"] == report
    english = archive.read("codebook.en.md").decode()
    spanish = archive.read("codebook.es.md").decode()
    item = setup.wave.instrument.definition["sections"][0]["items"][0]
    for codebook in (english, spanish):
        assert item["text"]["en"] in codebook
        assert item["text"]["es"] in codebook
    # The aggregate tables are the API's cells.
    api = all_cells(leader(setup.coalition), setup.wave)
    aggregates = pd.read_csv(
        io.BytesIO(archive.read(f"aggregates/wave-{setup.wave.pk}-breakdowns.csv")), dtype={"n_label": object}
    )
    assert len(aggregates) == len(api)
    assert aggregates["suppressed"].tolist() == [cell["suppressed"] for cell in api]
    assert aggregates["n"].fillna(-1).astype(int).tolist() == [-1 if cell["n"] is None else cell["n"] for cell in api]


def leader(coalition: Coalition) -> APIClient:
    client = APIClient()
    client.force_authenticate(login_with_role(coalition, "leader", "leader-reader"))
    return client


def test_the_demo_researcher_exports_the_demo_waves_from_the_api(exports_root: Path) -> None:
    from django.core.management import call_command

    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("load_demo", stdout=io.StringIO())
    client = APIClient()
    assert client.login(username="researcher", password="demo-researcher-2026")  # noqa: S106 (documented demo login)
    agreement = client.get("/api/v1/agreement/").json()
    assert (agreement["version"], agreement["accepted"]) == (1, False)
    assert client.post("/api/v1/agreement/", {"version": 1}, format="json").status_code == 200
    waves = list(Wave.objects.filter(status="closed").order_by("opens_at").values_list("pk", flat=True))

    response = request_export(client, waves)

    assert response.status_code == 201, response.content
    export = Export.objects.get()
    assert export.status == "succeeded", export.error
    archive = download(client, export)
    csv = pd.read_csv(io.BytesIO(archive.read("microdata.csv")))
    assert csv["wave"].value_counts().sort_index().tolist() == [
        Wave.objects.get(pk=pk).responses.count() for pk in waves
    ]
    report = json.loads(archive.read("disclosure-report.json"))
    for position, wave in enumerate(report["waves"], start=1):
        rows = csv[csv["wave"] == position]
        kept = [qi["slug"].replace("-", "_") for qi in wave["quasi_identifiers"] if not qi["dropped"]]
        assert anonymity.k_anonymity(rows[kept].astype(str), kept) >= wave["k"]
        assert int((rows[kept[0]] == SUPPRESSED).sum()) == wave["rows_suppressed"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no-agreement", "Accept the current data-use agreement before requesting an export."),
        ("no-grant", "These waves cannot be exported by you"),
        ("revoked", "These waves cannot be exported by you"),
        ("open-wave", "These waves cannot be exported by you"),
        ("unknown-wave", "These waves cannot be exported by you"),
        ("repeated", "Each wave can be chosen only once."),
        ("empty", None),
    ],
)
def test_refused_requests_say_why_and_create_nothing(
    case: str, expected: str | None, coalition: Coalition, instrument: Instrument, exports_root: Path
) -> None:
    wave = published_wave(coalition, instrument)
    researcher = researcher_with_grant(coalition, accept=case != "no-agreement")
    if case == "no-grant":
        other = Coalition.objects.create(slug="elsewhere", name="Elsewhere")
        researcher = researcher_with_grant(other, username="bo")
    if case == "revoked":
        services.grant_revoke(grant=researcher.research_grants.get(), by=researcher)
    if case == "open-wave":
        Wave.objects.filter(pk=wave.pk).update(status=Wave.Status.OPEN)
    wave_ids = {"unknown-wave": [wave.pk + 100], "repeated": [wave.pk, wave.pk], "empty": []}.get(case, [wave.pk])
    client = APIClient()
    client.force_authenticate(researcher)
    events = AuditEvent.objects.count()

    response = request_export(client, wave_ids)

    assert response.status_code == 400
    if expected is not None:
        assert response.json()["detail"].startswith(expected)
    assert Export.objects.count() == 0
    assert AuditEvent.objects.count() == events
    assert list(exports_root.glob("*")) == [] if exports_root.exists() else True


def test_nobody_else_sees_or_downloads_an_export(setup: Setup) -> None:
    request_export(setup.client, [setup.wave.pk])
    export = Export.objects.get()
    others = {
        "other researcher": researcher_with_grant(setup.coalition, username="cy"),
        "leader": login_with_role(setup.coalition, "leader", "lee"),
        "superuser": User.objects.create_superuser(username="root", password="x-unused-password"),  # noqa: S106
    }
    for user in others.values():
        client = APIClient()
        client.force_authenticate(user)
        assert client.get(f"/api/v1/exports/{export.pk}/").status_code == 404
        assert client.get(f"/api/v1/exports/{export.pk}/download/").status_code == 404
        assert client.get("/api/v1/exports/").json() == []
    assert APIClient().get(f"/api/v1/exports/{export.pk}/download/").status_code in (401, 403)
    export.refresh_from_db()
    assert export.downloads == 0


def test_downloads_are_limited_in_number_and_time_and_logged(setup: Setup, settings: Any) -> None:
    settings.EXPORT_MAX_DOWNLOADS = 2
    request_export(setup.client, [setup.wave.pk])
    export = Export.objects.get()

    first = setup.client.get(f"/api/v1/exports/{export.pk}/download/")
    second = setup.client.get(f"/api/v1/exports/{export.pk}/download/")
    third = setup.client.get(f"/api/v1/exports/{export.pk}/download/")

    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 410)
    assert third.json()["detail"] == "This export can no longer be downloaded. Request a new export."
    export.refresh_from_db()
    assert export.downloads == 2
    assert setup.client.get(f"/api/v1/exports/{export.pk}/").json()["download_url"] is None
    actions = list(AuditEvent.objects.filter(coalition=setup.coalition).order_by("id").values_list("action", "actor"))
    assert actions == [
        ("wave-created", "command line"),
        ("access-requested", "admin-of-riverside"),
        ("access-granted", "second-admin"),
        ("agreement-accepted", "ana"),
        ("export-requested", "ana"),
        ("export-downloaded", "ana"),
        ("export-downloaded", "ana"),
    ]


def test_an_expired_export_is_refused_then_deleted_by_the_cleanup(setup: Setup, exports_root: Path) -> None:
    request_export(setup.client, [setup.wave.pk])
    export = Export.objects.get()
    zip_path = exports_root / export.file_name
    assert zip_path.exists()
    Export.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert setup.client.get(f"/api/v1/exports/{export.pk}/download/").status_code == 410
    assert tasks.delete_expired_exports.delay().get() == 1

    export.refresh_from_db()
    assert (export.status, export.file_name) == ("expired", "")
    assert not zip_path.exists()
    assert sorted(path.name for path in exports_root.iterdir()) == []


def test_a_failed_export_leaves_no_file_and_can_be_tried_again(
    setup: Setup, exports_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "write_codebook", broken)
    # The enqueue runs on commit with robust=True: the request itself succeeded; the job failed.
    assert request_export(setup.client, [setup.wave.pk]).status_code == 201
    export = Export.objects.get()
    assert (export.status, export.file_name, export.attempts) == ("failed", "", 1)
    assert (
        export.error
        == "The export could not be prepared because of an internal error. It has been logged for the team."
    )
    assert list(exports_root.iterdir()) == []
    assert setup.client.get(f"/api/v1/exports/{export.pk}/download/").status_code == 410

    monkeypatch.undo()
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.export_retry(export=export, user=setup.researcher)

    export.refresh_from_db()
    assert (export.status, export.attempts) == ("succeeded", 2)
    assert [path.name for path in exports_root.iterdir()] == [export.file_name]


def test_the_job_is_idempotent_and_stuck_exports_go_back_to_the_queue(setup: Setup, exports_root: Path) -> None:
    request_export(setup.client, [setup.wave.pk])
    export = Export.objects.get()

    assert tasks.build_export.delay(str(export.pk)).get() is None  # already done: nothing to claim
    assert tasks.build_export.delay("00000000-0000-0000-0000-000000000000").get() is None  # missing row
    assert len(list(exports_root.glob("*.zip"))) == 1

    Export.objects.filter(pk=export.pk).update(
        status=Export.Status.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    assert services.exports_reset_stuck() == [str(export.pk)]
    export.refresh_from_db()
    assert (export.status, export.stage, export.progress) == ("pending", "queued", 0)


def test_a_grant_revoked_while_the_export_waits_stops_it_with_a_reason(setup: Setup) -> None:
    export = services.export_request(user=setup.researcher, wave_ids=[setup.wave.pk])  # not run yet
    services.grant_revoke(grant=setup.researcher.research_grants.get(), by=setup.researcher)

    tasks.build_export.delay(str(export.pk))

    export.refresh_from_db()
    assert (export.status, export.file_name) == ("failed", "")
    assert export.error == "Your access to a coalition of this export was revoked, so the export was stopped."


def test_accepting_an_outdated_agreement_is_refused(setup: Setup) -> None:
    services.agreement_publish(title={"en": "Agreement", "es": "Acuerdo"}, text={"en": "New.", "es": "Nuevo."})

    stale = setup.client.post("/api/v1/agreement/", {"version": 1}, format="json")
    refused = request_export(setup.client, [setup.wave.pk])
    accepted = setup.client.post("/api/v1/agreement/", {"version": 2}, format="json")

    assert stale.status_code == 400
    assert stale.json()["detail"] == (
        "The data-use agreement changed while you were reading it. Read version 2 and accept it."
    )
    assert refused.json()["detail"] == "Accept the current data-use agreement before requesting an export."
    assert accepted.status_code == 200
    assert request_export(setup.client, [setup.wave.pk]).status_code == 201


def test_a_ready_export_cannot_be_downloaded_once_access_is_revoked(setup: Setup) -> None:
    request_export(setup.client, [setup.wave.pk])
    export = Export.objects.get()
    services.grant_revoke(grant=setup.researcher.research_grants.get(), by=setup.researcher)

    response = setup.client.get(f"/api/v1/exports/{export.pk}/download/")

    assert response.status_code == 410
    assert response.json()["detail"] == (
        "Your access to a coalition of this export was revoked, so it can no longer be downloaded."
    )
    export.refresh_from_db()
    assert export.downloads == 0


def test_a_head_request_does_not_use_up_a_download(setup: Setup) -> None:
    request_export(setup.client, [setup.wave.pk])
    export = Export.objects.get()

    assert setup.client.head(f"/api/v1/exports/{export.pk}/download/").status_code == 405

    export.refresh_from_db()
    assert export.downloads == 0


def test_a_failed_export_is_tried_again_through_the_api(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "write_codebook", lambda *args, **kwargs: (_ for _ in ()).throw(OSError("full")))
    request_export(setup.client, [setup.wave.pk])
    monkeypatch.undo()
    export = Export.objects.get()
    assert export.status == "failed"

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = setup.client.post(f"/api/v1/exports/{export.pk}/retry/")
    again = setup.client.post(f"/api/v1/exports/{export.pk}/retry/")

    assert response.status_code == 200
    assert Export.objects.get().status == "succeeded"
    assert (again.status_code, again.json()["detail"]) == (400, "Only a failed export can be tried again.")


def test_waves_of_different_questionnaire_versions_are_refused_at_the_request(
    setup: Setup, instrument: Instrument
) -> None:
    newer = Instrument.objects.create(
        slug=instrument.slug,
        version=instrument.version + 1,
        titles=instrument.titles,
        definition=instrument.definition,
        checksum="newer",
    )
    later = published_wave(setup.coalition, newer, label="2026 Q4", opens_at=setup.wave.opens_at + timedelta(days=92))

    response = request_export(setup.client, [setup.wave.pk, later.pk])

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "These waves used different versions of the questionnaire. Export the waves of each version separately: "
        f"2026 Q3: {instrument.slug} v{instrument.version}; 2026 Q4: {instrument.slug} v{newer.version}."
    )
    assert Export.objects.count() == 0


# --- CSV formula injection and file names (issue 10) ------------------------------------------------

HOSTILE_NAME = '=HYPERLINK("http://x","y")'
HOSTILE_LABEL = '2026 Q3"\r\nX-Evil: 1/../a.html'


def test_a_hostile_coalition_name_and_wave_label_change_no_file_name_and_no_cell_runs(setup: Setup) -> None:
    # Stored as a legacy row would hold them: the validators now refuse both at input.
    Coalition.objects.filter(pk=setup.coalition.pk).update(name=HOSTILE_NAME)
    Wave.objects.filter(pk=setup.wave.pk).update(label=HOSTILE_LABEL)

    request_export(setup.client, [setup.wave.pk])
    export = Export.objects.get()
    response = setup.client.get(f"/api/v1/exports/{export.pk}/download/")

    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="coalition-pulse-export-{export.requested_at:%Y%m%d}-{str(export.pk)[:8]}.zip"'
    )
    assert "X-Evil" not in response
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert [name for name in archive.namelist() if name.startswith("aggregates/")] == [
        f"aggregates/wave-{setup.wave.pk}-breakdowns.csv",
        f"aggregates/wave-{setup.wave.pk}-pair-matrix.csv",
    ]
    # The label holds a line break, so every field of every row is quoted; the wave cell starts with a quote.
    written = '"\'=HYPERLINK(""http://x"",""y"") — 2026 Q3""\r\nX-Evil: 1/../a.html"'
    breakdowns = archive.read(f"aggregates/wave-{setup.wave.pk}-breakdowns.csv").decode()
    assert breakdowns.startswith(
        "wave,dimensions,groups,measure,area,n,n_label,mean,sd,ci_low,ci_high,score_100,gap,gap_ci_low,"
        f'gap_ci_high,p_value,q_value,hedges_g,flag,suppressed\r\n{written},"","","overall","overall","60",'
    )
    assert breakdowns.count(f"\r\n{written},") == len(all_cells(leader(setup.coalition), setup.wave))
    pairs = archive.read(f"aggregates/wave-{setup.wave.pk}-pair-matrix.csv").decode()
    assert pairs.startswith(f"wave,rater_sector,rated_sector,n,mean,asymmetry,flag,suppressed\r\n{written},")
    # The microdata's missing codes stay plain negative numbers.
    microdata = pd.read_csv(io.BytesIO(archive.read("microdata.csv")), dtype=str)
    assert microdata["power_2"].isin(["-8"]).sum() == 1
    assert microdata["pair_funders"].isin(["-6"]).sum() == 1


HOSTILE_NAMES = [
    (HOSTILE_NAME, '"\'=HYPERLINK(""http://x"",""y"") — 2026 Q3"'),
    ("+1+1", "'+1+1 — 2026 Q3"),
    ("-1+2", "'-1+2 — 2026 Q3"),
    ("@SUM(A1)", "'@SUM(A1) — 2026 Q3"),
    ("\tx", "'\tx — 2026 Q3"),
]


def test_an_aggregate_tables_wave_cell_is_neutralised_and_its_numbers_kept(setup: Setup, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    plain = services._write_aggregates(setup.wave, services._wave_label(setup.wave), tmp_path / "plain")

    for number, (name, written) in enumerate(HOSTILE_NAMES):
        Coalition.objects.filter(pk=setup.coalition.pk).update(name=name)
        setup.wave.refresh_from_db()
        folder = tmp_path / f"hostile-{number}"
        folder.mkdir()
        hostile = services._write_aggregates(setup.wave, services._wave_label(setup.wave), folder)

        assert sorted(hostile) == sorted(plain)
        for key, path in hostile.items():
            text = plain[key].read_bytes().decode()
            assert text.count("\r\nRiverside Partnership — 2026 Q3,") == text.count("\r\n") - 1, key
            expected = text.replace("\r\nRiverside Partnership — 2026 Q3,", f"\r\n{written},")
            assert path.read_bytes().decode() == expected, (name, key)


def test_a_carriage_return_in_a_coalition_name_quotes_the_whole_row(setup: Setup, tmp_path: Path) -> None:
    Coalition.objects.filter(pk=setup.coalition.pk).update(name="\rx")
    setup.wave.refresh_from_db()

    paths = services._write_aggregates(setup.wave, services._wave_label(setup.wave), tmp_path)

    with paths[f"wave-{setup.wave.pk}-pair-matrix"].open(newline="", encoding="utf-8") as handle:
        lines = handle.read().split("\r\n")
    assert lines[0] == "wave,rater_sector,rated_sector,n,mean,asymmetry,flag,suppressed"
    assert lines[1].startswith('"\'\rx — 2026 Q3","')
    assert all(line.startswith('"\'\rx — 2026 Q3","') for line in lines[1:-1])
    assert lines[-1] == ""
