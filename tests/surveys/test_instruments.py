"""Instrument files: schema, semantic rules, versioning."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from surveys import services
from surveys.instruments import DEFAULT_INSTRUMENT_PATH, InstrumentError, InstrumentSpec, instrument_validate
from surveys.models import Instrument


@pytest.fixture
def definition() -> dict[str, Any]:
    return json.loads(DEFAULT_INSTRUMENT_PATH.read_text())


def test_default_instrument_is_valid_and_complete(definition: dict[str, Any]) -> None:
    assert instrument_validate(definition) == []
    spec = InstrumentSpec.from_definition(definition)
    assert spec.languages == ["en", "es"]
    assert len(spec.areas) == 14
    assert [d["slug"] for d in spec.dimensions] == [
        "gender",
        "race-ethnicity",
        "financial",
        "pay-status",
        "org-budget",
        "role-level",
        "lived-experience",
        "age",
        "tenure",
    ]
    for area in spec.areas:
        items = [q for q in spec.questions.values() if q.definition.get("area") == area["slug"]]
        strain = [q for q in items if q.definition.get("role") == "strain-rating"]
        agreement = [q for q in items if q.definition.get("role") == "agreement"]
        assert len(strain) == 1, area["slug"]
        assert 2 <= len(agreement) <= 3, area["slug"]
    assert spec.pair_matrix is not None
    assert spec.questions["comment"].is_enabled is False


def test_default_instrument_shows_nothing_alarming_on_screen(definition: dict[str, Any]) -> None:
    # PRIVACY.md rule 16: nothing a person nearby could read names the subject.
    text = json.dumps(definition, ensure_ascii=False).lower()
    assert "traffick" not in text
    assert "trata " not in text


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param(
            lambda d: d["sections"][0]["items"][0]["text"].pop("es"),
            "missing language(s) es",
            id="missing-language",
        ),
        pytest.param(
            lambda d: d["scales"]["agree5"]["labels"]["en"].pop(),
            "scale agree5: 4 labels in en for 5 points",
            id="labels",
        ),
        pytest.param(lambda d: d["sections"][0]["items"][0].update(area="nowhere"), "unknown area nowhere", id="area"),
        pytest.param(lambda d: d["sections"][0]["items"][0].update(scale="agree7"), "unknown scale agree7", id="scale"),
        pytest.param(
            lambda d: d["dimensions"][0]["options"].pop(),
            'the last option must be "prefer-not-to-say"',
            id="pnts",
        ),
        pytest.param(
            lambda d: d["sections"][1]["items"][0].update(slug=d["sections"][0]["items"][0]["slug"]),
            "slug used twice",
            id="duplicate-slug",
        ),
        pytest.param(lambda d: d["dimensions"][0].update(slug="sector"), "slug is reserved", id="reserved"),
    ],
)
def test_rejects_semantic_errors(definition: dict[str, Any], change: Any, problem: str) -> None:
    change(definition)

    problems = instrument_validate(definition)

    assert any(problem in found for found in problems), problems


def test_rejects_schema_errors_with_their_path(definition: dict[str, Any]) -> None:
    definition["scales"]["agree5"]["points"] = 12

    assert instrument_validate(definition) == ["scales/agree5/points: 12 is greater than the maximum of 11"]


@pytest.mark.django_db
def test_loading_the_same_file_twice_changes_nothing(definition: dict[str, Any]) -> None:
    first, created_first = services.instrument_load(definition=definition)
    second, created_second = services.instrument_load(definition=copy.deepcopy(definition))

    assert (created_first, created_second) == (True, False)
    assert first.pk == second.pk
    assert Instrument.objects.count() == 1


@pytest.mark.django_db
def test_a_changed_file_makes_a_new_version_and_leaves_the_old_one(definition: dict[str, Any]) -> None:
    first, _ = services.instrument_load(definition=definition)
    changed = copy.deepcopy(definition)
    changed["sections"][0]["items"][0]["text"]["en"] = "A reworded question."

    second, created = services.instrument_load(definition=changed)

    assert created is True
    assert (first.version, second.version) == (1, 2)
    first.refresh_from_db()
    assert first.definition == definition


@pytest.mark.django_db
def test_invalid_instrument_stores_nothing(definition: dict[str, Any]) -> None:
    definition["areas"] = []

    with pytest.raises(InstrumentError):
        services.instrument_load(definition=definition)

    assert Instrument.objects.count() == 0


@pytest.mark.django_db
def test_load_instrument_command_prints_slug_and_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("load_instrument", str(DEFAULT_INSTRUMENT_PATH))
    call_command("load_instrument", str(DEFAULT_INSTRUMENT_PATH))

    assert capsys.readouterr().out == (
        "partnership-strain version 1 (loaded as a new version)\npartnership-strain version 1 (unchanged)\n"
    )


@pytest.mark.django_db
def test_load_instrument_command_explains_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "coalition-pulse-instrument/1"')

    with pytest.raises(CommandError, match="is not valid JSON"):
        call_command("load_instrument", str(bad))
    assert Instrument.objects.count() == 0
