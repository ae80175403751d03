"""The analytics job: claim, compute, store once; failures, retries, the sweeper, the command, close → compute."""

from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from celery.exceptions import Retry
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.test import TestCase
from django.utils import timezone

from analytics import services, tasks
from analytics.engine import ENGINE_VERSION
from analytics.engine.publication import publish
from analytics.models import AnalyticsRun, PublishedPairMatrix, PublishedTable
from analytics.selectors import cell_fields
from surveys import services as survey_services
from surveys.models import Coalition, Instrument, Response, Wave
from tests.analytics.conftest import Person, closed_wave_with
from tests.conftest import add_members, open_wave_for, requires_postgres


def people(count: int = 40) -> list[Person]:
    sectors = ["victim-services", "law-enforcement", "advocacy", "health"]
    return [Person(sector=sectors[index % 4], gender=("woman",) if index % 3 else ("man",)) for index in range(count)]


def table_count(wave: Wave) -> int:
    return PublishedTable.objects.filter(run__wave=wave).count()


def test_the_job_stores_every_fixed_table_once_and_a_repeat_stores_nothing(
    coalition: Coalition, instrument: Instrument, django_assert_max_num_queries: Any
) -> None:
    wave = closed_wave_with(coalition, instrument, people())

    run = services.breakdowns_compute(wave_id=wave.pk)

    assert run is not None
    assert (run.status, run.stage, run.progress, run.attempts, run.engine_version, run.error) == (
        AnalyticsRun.Status.SUCCEEDED,
        AnalyticsRun.Stage.DONE,
        100,
        1,
        ENGINE_VERSION,
        "",
    )
    # 1 overall + 1 sector + 9 dimensions alone + 9 sector crosses = 20 tables, each on 1 + 14 + 55 measures.
    assert table_count(wave) == 20 * 70
    assert len(PublishedPairMatrix.objects.get(run=run).cells) == 13 * 13
    stored = list(PublishedTable.objects.filter(run=run).values_list("pk", flat=True))

    # Redelivered or repeated: nothing to claim, nothing stored twice.
    assert services.breakdowns_compute(wave_id=wave.pk) is None
    assert tasks.compute_breakdowns.delay(wave.pk).get() is None
    assert list(PublishedTable.objects.filter(run=run).values_list("pk", flat=True)) == stored
    assert AnalyticsRun.objects.filter(wave=wave).count() == 1


def test_the_answers_load_in_one_query(
    coalition: Coalition, instrument: Instrument, django_assert_num_queries: Any
) -> None:
    wave = closed_wave_with(coalition, instrument, people(120))
    with django_assert_num_queries(1):
        frame = services.responses_load(wave_id=wave.pk)
    assert frame.shape[0] == 120
    assert sorted(frame["sector"].value_counts().to_dict().items()) == [
        ("advocacy", 30),
        ("health", 30),
        ("law-enforcement", 30),
        ("victim-services", 30),
    ]


def as_text(column: pd.Series) -> list[str | None]:
    return [None if pd.isna(value) else str(value) for value in column.tolist()]


@requires_postgres
def test_the_postgres_copy_loader_gives_the_engine_what_the_orm_gives(
    coalition: Coalition, instrument: Instrument
) -> None:
    crowd = [
        Person(
            sector=["victim-services", "law-enforcement", "survivor-leaders"][index % 3],
            gender=[("woman",), ("man", "transgender"), (), ("prefer-not-to-say",)][index % 4],
            lived=[None, "yes", "no"][index % 3],
            extra={"pair:law-enforcement": [1, 5, "none"][index % 3], "power-2": "na"} if index % 5 else {},
        )
        for index in range(60)
    ]
    wave = closed_wave_with(coalition, instrument, crowd)
    sectors = [sector["slug"] for sector in wave.sectors_snapshot]
    keys = services.answer_keys(instrument=instrument.definition, sectors=sectors)
    scale = [key for key in keys if key.startswith(("power", "trust"))]  # any scale items: they are never lists
    copied = services.responses_load(wave_id=wave.pk, keys=keys, scale_keys=scale)
    decoded = services.responses_load(wave_id=wave.pk)

    assert copied.shape == (60, 1 + len(keys))
    # Both in the order of the response ids, so that a wave's sums are the same in every run.
    by_id = list(Response.objects.filter(wave=wave).order_by("id").values_list("sector", flat=True))
    assert copied["sector"].tolist() == by_id
    assert decoded["sector"].tolist() == by_id
    raw = services.responses_load(wave_id=wave.pk, keys=keys, scale_keys=scale, raw=True)
    for key in ("power-2", "pair:law-enforcement"):  # "na" and "none" kept, numbers as their text
        assert as_text(raw[key]) == as_text(decoded[key])
    # 48 people (index % 5 ≠ 0) answered "na"; 16 of them (index % 3 = 2) "none" for law enforcement.
    assert as_text(raw["power-2"]).count("na") == 48
    assert as_text(raw["pair:law-enforcement"]).count("none") == 16
    arguments = {"instrument": instrument.definition, "sectors": sectors, "sensitive_sectors": ["survivor-leaders"]}
    # Aggregates only: the order of the rows does not matter.
    first = publish(responses=copied, **arguments)
    second = publish(responses=decoded, **arguments)
    pd.testing.assert_frame_equal(first.cells, second.cells)
    pd.testing.assert_frame_equal(first.pairs, second.pairs)


def test_a_forced_recompute_replaces_the_tables_in_one_go(coalition: Coalition, instrument: Instrument) -> None:
    wave = closed_wave_with(coalition, instrument, people())
    services.breakdowns_compute(wave_id=wave.pk)
    before = table_count(wave)

    services.run_request(wave_id=wave.pk, force=True)
    run = services.breakdowns_compute(wave_id=wave.pk)

    assert run is not None
    assert run.attempts == 2
    assert table_count(wave) == before


def test_an_error_marks_the_run_failed_with_a_readable_reason_and_keeps_previous_results(
    coalition: Coalition, instrument: Instrument, monkeypatch: pytest.MonkeyPatch
) -> None:
    wave = closed_wave_with(coalition, instrument, people())
    services.breakdowns_compute(wave_id=wave.pk)
    old_run = AnalyticsRun.objects.get(wave=wave)
    # An older engine version's results stay visible while the new version fails.
    AnalyticsRun.objects.filter(pk=old_run.pk).update(engine_version="2000.1")

    def broken(**kwargs: Any) -> None:
        raise ValueError("something internal")

    monkeypatch.setattr(services, "publish", broken)
    with pytest.raises(ValueError, match="something internal"):
        tasks.compute_breakdowns.delay(wave.pk)

    failed = AnalyticsRun.objects.get(wave=wave, engine_version=ENGINE_VERSION)
    assert (failed.status, failed.error) == (
        AnalyticsRun.Status.FAILED,
        "The results could not be computed because of an internal error. It has been logged for the team.",
    )
    assert PublishedTable.objects.filter(run=failed).count() == 0
    assert table_count(wave) == 20 * 70  # the older run's tables, untouched


def test_a_transient_error_hands_the_run_back_and_the_retry_completes_it(
    coalition: Coalition, instrument: Instrument, monkeypatch: pytest.MonkeyPatch
) -> None:
    wave = closed_wave_with(coalition, instrument, people())
    real_load = services.responses_load
    calls: list[int] = []

    def flaky(*, wave_id: int, **options: Any) -> Any:
        calls.append(wave_id)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_load(wave_id=wave_id, **options)

    monkeypatch.setattr(services, "responses_load", flaky)

    with pytest.raises(Retry, match="Retry in 10s"):
        tasks.compute_breakdowns.apply(args=(wave.pk,))
    run = AnalyticsRun.objects.get(wave=wave)
    assert (run.status, run.attempts, table_count(wave)) == (AnalyticsRun.Status.PENDING, 1, 0)

    # The broker delivers the retry after its countdown.
    assert tasks.compute_breakdowns.apply(args=(wave.pk,), retries=1).get() == run.pk
    run.refresh_from_db()
    assert (len(calls), run.status, run.attempts) == (2, AnalyticsRun.Status.SUCCEEDED, 2)


def test_the_sweeper_requeues_runs_stuck_in_running(coalition: Coalition, instrument: Instrument) -> None:
    wave = closed_wave_with(coalition, instrument, people())
    run = services.run_request(wave_id=wave.pk)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    AnalyticsRun.objects.filter(pk=run.pk).update(status=AnalyticsRun.Status.RUNNING, heartbeat_at=an_hour_ago)

    assert tasks.reset_stuck_runs.delay().get() == [wave.pk]

    run.refresh_from_db()
    assert (run.status, run.progress) == (AnalyticsRun.Status.SUCCEEDED, 100)
    assert table_count(wave) == 20 * 70


def test_a_run_with_a_recent_heartbeat_is_left_to_its_worker(coalition: Coalition, instrument: Instrument) -> None:
    wave = closed_wave_with(coalition, instrument, people())
    run = services.run_request(wave_id=wave.pk)
    AnalyticsRun.objects.filter(pk=run.pk).update(status=AnalyticsRun.Status.RUNNING, heartbeat_at=timezone.now())

    assert services.runs_reset_stuck() == []
    assert services.breakdowns_compute(wave_id=wave.pk) is None
    assert table_count(wave) == 0


def test_an_open_wave_is_refused_with_a_readable_reason(coalition: Coalition, instrument: Instrument) -> None:
    add_members(coalition, 6)
    wave = open_wave_for(coalition, instrument).wave
    with pytest.raises(services.AnalyticsError, match="only once a wave has closed"):
        services.run_request(wave_id=wave.pk)
    with pytest.raises(CommandError, match="only once a wave has closed"):
        call_command("compute_breakdowns", str(wave.pk))
    assert AnalyticsRun.objects.count() == 0


def test_the_command_computes_a_wave_and_says_so(
    coalition: Coalition, instrument: Instrument, capsys: pytest.CaptureFixture[str]
) -> None:
    wave = closed_wave_with(coalition, instrument, people())
    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("compute_breakdowns", str(wave.pk))
        # Enqueued: the job runs once the command's transaction commits.
        assert capsys.readouterr().out == f"Results of wave {wave.pk}: Waiting (Waiting for a worker).\n"
    assert table_count(wave) == 20 * 70

    call_command("compute_breakdowns", str(wave.pk), "--now", "--force")
    assert capsys.readouterr().out == f"Results of wave {wave.pk}: Ready (Done).\n"
    assert AnalyticsRun.objects.get(wave=wave).attempts == 2
    with pytest.raises(CommandError, match="There is no wave 999999"):
        call_command("compute_breakdowns", "999999")


def test_closing_a_wave_computes_its_results_after_the_commit(coalition: Coalition, instrument: Instrument) -> None:
    members = add_members(coalition, 10)
    opened = open_wave_for(coalition, instrument)
    answers = {"gender": ["woman"], "power-1": 2}
    for member in members:
        survey_services.response_submit(
            token_hash=survey_services.submission_token_hash(opened.token_of(member)), answers=answers
        )

    with TestCase.captureOnCommitCallbacks(execute=True) as callbacks:
        survey_services.wave_close(wave_id=opened.wave.pk)

    assert len(callbacks) == 1
    run = AnalyticsRun.objects.get(wave=opened.wave)
    assert run.status == AnalyticsRun.Status.SUCCEEDED
    overall = PublishedTable.objects.get(run=run, table_key="", area="power-1").cells
    assert overall == [[[], 10, None, 2.0, 0.0, 2.0, 2.0, 25.0, None, None, None, None, False, False, None, None]]


def test_stored_counts_stay_whole_numbers_next_to_hidden_ones(coalition: Coalition, instrument: Instrument) -> None:
    wave = closed_wave_with(coalition, instrument, people())
    run = services.breakdowns_compute(wave_id=wave.pk)

    sectors = [
        cell_fields(row) for row in PublishedTable.objects.get(run=run, table_key="sector", area="overall").cells
    ]
    shown = [cell["n"] for cell in sectors if not cell["suppressed"]]
    hidden = [cell["n"] for cell in sectors if cell["suppressed"]]
    # Ten in each of four sectors (one of them hidden by the audit); nine empty ones hidden too.
    assert (len(shown), len(hidden)) == (3, 10)
    assert [(type(count), count) for count in shown] == [(int, 10)] * 3
    assert hidden == [None] * 10


def test_a_hidden_cell_is_stored_as_its_groups_alone(coalition: Coalition, instrument: Instrument) -> None:
    wave = closed_wave_with(coalition, instrument, people())
    run = services.breakdowns_compute(wave_id=wave.pk)

    rows = PublishedTable.objects.get(run=run, table_key="sector", area="overall").cells
    business = next(row for row in rows if row[0] == ["business"])
    assert business == [["business"]]
    assert cell_fields(business) == {
        **dict.fromkeys(["n", "n_label", "mean", "sd", "ci_low", "ci_high", "score_100", "gap"]),
        **dict.fromkeys(["p_value", "q_value", "hedges_g", "flag", "gap_ci_low", "gap_ci_high"]),
        "groups": ["business"],
        "suppressed": True,
    }
