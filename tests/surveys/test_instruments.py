"""Instrument files: schema, semantic rules, versioning."""

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from surveys import services
from surveys.instruments import (
    DEFAULT_INSTRUMENT_PATH,
    InstrumentError,
    InstrumentSpec,
    instrument_parse,
    instrument_read,
    instrument_validate,
)
from surveys.models import Instrument


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    # A request in Spanish leaves Spanish active in the thread (LocaleMiddleware); these messages are English.
    with translation.override("en"):
        yield


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


# --- Texts on one line (issue 10) -------------------------------------------------------------------

ONE_LINE = "Write this on one line, without line breaks, tabs or invisible control characters (found {character})."
PARAGRAPH = (
    "Write this without carriage returns, tabs or invisible control characters; "
    "plain line breaks are allowed (found {character})."
)


def set_text(node: dict[str, Any], key: str, text: str) -> None:
    node[key] = text


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param(
            lambda d: set_text(d["title"], "en", "Partnership\r\ncheck"),
            "$.title.en: " + ONE_LINE.format(character="U+000D"),
            id="title",
        ),
        pytest.param(
            lambda d: set_text(d["sections"][0]["items"][0]["text"], "es", "¿Está\nclaro?"),
            "$.sections[0].items[0].text.es: " + ONE_LINE.format(character="U+000A"),
            id="item-text",
        ),
        pytest.param(
            lambda d: set_text(d["sections"][15]["items"][0]["options"][0]["label"], "en", "\tYes"),
            "$.sections[15].items[0].options[0].label.en: " + ONE_LINE.format(character="U+0009"),
            id="option-label",
        ),
        pytest.param(
            lambda d: d["scales"]["agree5"]["labels"]["en"].__setitem__(0, "Strongly\u2028disagree"),
            "$.scales.agree5.labels.en[0]: " + ONE_LINE.format(character="U+2028"),
            id="scale-label",
        ),
        pytest.param(
            lambda d: set_text(d["sections"][0]["title"], "en", "Problem\u2029definition"),
            "$.sections[0].title.en: " + ONE_LINE.format(character="U+2029"),
            id="section-title",
        ),
        pytest.param(
            lambda d: set_text(d["dimensions"][0]["options"][0]["label"], "en", "\u202enamoW"),
            "$.dimensions[0].options[0].label.en: " + ONE_LINE.format(character="U+202E"),
            id="dimension-option",
        ),
        pytest.param(
            lambda d: set_text(d["areas"][0]["description"], "en", "One sentence.\nAnother."),
            "$.areas[0].description.en: " + ONE_LINE.format(character="U+000A"),
            id="area-description-is-one-sentence",
        ),
        pytest.param(
            lambda d: set_text(d["sections"][16]["items"][0]["help"], "en", "Choose three.\x00"),
            "$.sections[16].items[0].help.en: " + ONE_LINE.format(character="U+0000"),
            id="help",
        ),
        pytest.param(
            lambda d: set_text(d["sections"][12]["intro"], "en", "First paragraph.\r\nSecond."),
            "$.sections[12].intro.en: " + PARAGRAPH.format(character="U+000D"),
            id="intro-carriage-return",
        ),
        pytest.param(
            lambda d: set_text(d["description"], "es", "Primero.\n\tSegundo."),
            "$.description.es: " + PARAGRAPH.format(character="U+0009"),
            id="description-tab",
        ),
    ],
)
def test_rejects_texts_with_line_breaks_or_control_characters(
    definition: dict[str, Any], change: Any, problem: str
) -> None:
    change(definition)

    assert instrument_validate(definition) == [problem]


def test_introductions_may_run_over_several_lines(definition: dict[str, Any]) -> None:
    definition["description"]["en"] = "First paragraph.\n\nSecond paragraph."
    definition["sections"][12]["intro"]["es"] = "Primera línea.\nSegunda línea."

    assert instrument_validate(definition) == []


# --- Size and depth (issue 10) ----------------------------------------------------------------------

TOO_DEEP = "The instrument file is nested too deeply: lists and objects may be nested at most 20 levels deep."


def nested(depth: int) -> Any:
    value: Any = "x"
    for _level in range(depth):
        value = [value]
    return value


def test_a_file_nested_100_000_deep_is_refused_as_too_deep_not_with_a_recursion_error() -> None:
    content = "[" * 100_000 + "]" * 100_000

    with pytest.raises(InstrumentError) as refusal:
        instrument_parse(content)

    assert refusal.value.problems == [TOO_DEEP]


@pytest.mark.parametrize(
    ("depth", "expected"),
    [
        pytest.param(18, [f"title/en: {nested(18)!r} is not of type 'string'"], id="20-levels-reach-the-schema"),
        pytest.param(19, [TOO_DEEP], id="21-levels"),
        pytest.param(5_000, [TOO_DEEP], id="5000-levels"),
    ],
)
def test_the_depth_is_checked_before_the_schema(definition: dict[str, Any], depth: int, expected: list[str]) -> None:
    # The definition is level 1 and its title level 2, so the innermost list is at depth + 2.
    definition["title"]["en"] = nested(depth)

    assert instrument_validate(definition) == expected


def test_a_definition_nested_500_000_deep_is_checked_without_recursion() -> None:
    assert instrument_validate(nested(500_000)) == [TOO_DEEP]


def huge_file(path: Path, size: int) -> Path:
    # Valid JSON of the given size: the size alone must refuse it.
    path.write_bytes(b'{"slug": "' + b"x" * (size - 12) + b'"}')
    assert path.stat().st_size == size
    return path


def test_a_file_over_2_mib_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = huge_file(tmp_path / "huge.json", 2 * 1024 * 1024 + 1)

    with pytest.raises(InstrumentError) as refusal:
        instrument_read(path)

    assert refusal.value.problems == [
        "The instrument file is too large: 2,097,153 bytes; at most 2,097,152 bytes (2 MiB) are allowed."
    ]


def test_a_file_of_exactly_2_mib_is_parsed(tmp_path: Path) -> None:
    path = huge_file(tmp_path / "big.json", 2 * 1024 * 1024)

    assert len(instrument_read(path)["slug"]) == 2 * 1024 * 1024 - 12


def test_text_over_2_mib_is_refused_by_the_parser_too() -> None:
    with pytest.raises(InstrumentError) as refusal:
        instrument_parse(" " * (3 * 1024 * 1024))

    assert refusal.value.problems == [
        "The instrument file is too large: 3,145,728 bytes; at most 2,097,152 bytes (2 MiB) are allowed."
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, TOO_DEEP, id="100000-deep"),
        pytest.param(json.dumps({"title": nested(30)}).encode(), TOO_DEEP, id="30-deep"),
        pytest.param(
            b" " * (2 * 1024 * 1024 + 1),
            "The instrument file is too large: 2,097,153 bytes; at most 2,097,152 bytes (2 MiB) are allowed.",
            id="huge",
        ),
    ],
)
def test_load_instrument_command_refuses_a_deep_or_huge_file_and_stores_nothing(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "attack.json"
    path.write_bytes(content)

    with pytest.raises(CommandError) as refusal:
        call_command("load_instrument", str(path))

    assert str(refusal.value) == f"{path} is not a valid instrument:\n  - {problem}"
    assert refusal.value.returncode == 1
    assert Instrument.objects.count() == 0


def test_load_instrument_command_exits_with_1_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)

    result = subprocess.run(
        [sys.executable, "manage.py", "load_instrument", str(path)],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"CommandError: {path} is not a valid instrument:\n  - {TOO_DEEP}\n"
