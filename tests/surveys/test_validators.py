"""Names and labels stay on one line (issue 10): the validators, the model fields and the services that use them."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.functional import Promise

from surveys import services
from surveys.models import Coalition, Instrument, Sector, Wave
from surveys.validators import (
    NAME_MESSAGE,
    NAMES_SHAPE_MESSAGE,
    PARAGRAPH_MESSAGE,
    SINGLE_LINE_MESSAGE,
    validate_paragraph,
    validate_single_line,
    validate_single_line_names,
)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    # A request in Spanish leaves Spanish active in the thread (LocaleMiddleware); these messages are English.
    with translation.override("en"):
        yield


ONE_LINE = "Write this on one line, without line breaks, tabs or invisible control characters (found {character})."

REFUSED = [
    pytest.param("2026\rQ3", "U+000D", id="carriage-return"),
    pytest.param("2026\nQ3", "U+000A", id="line-feed"),
    pytest.param("2026\r\nSet-Cookie: x", "U+000D", id="crlf"),
    pytest.param("\tx", "U+0009", id="tab"),
    pytest.param("a\x00b", "U+0000", id="nul"),
    pytest.param("a\x1bb", "U+001B", id="escape"),
    pytest.param("a\x85b", "U+0085", id="next-line"),
    pytest.param("a\u2028b", "U+2028", id="line-separator"),
    pytest.param("a\u2029b", "U+2029", id="paragraph-separator"),
    pytest.param("\u202egpj.exe", "U+202E", id="right-to-left-override"),
    pytest.param("a\u200bb", "U+200B", id="zero-width-space"),
    pytest.param("a\ufeffb", "U+FEFF", id="byte-order-mark"),
]
ACCEPTED = [
    pytest.param("Riverside Partnership", id="plain"),
    pytest.param("Fiscalía y tribunales — 2026 T3", id="accents-and-dash"),
    pytest.param('=HYPERLINK("http://x","y")', id="formula-text"),  # neutralised where CSV is written
    pytest.param("Café  Ñandú 😀", id="emoji-and-spaces"),
    pytest.param("می‌خواهم", id="persian-zero-width-non-joiner"),
    pytest.param("👩‍⚖️ judge", id="emoji-zero-width-joiner"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize(("text", "character"), REFUSED)
def test_a_line_break_or_control_character_is_refused_and_named(text: str, character: str) -> None:
    with pytest.raises(ValidationError) as refusal:
        validate_single_line(text)

    assert refusal.value.messages == [ONE_LINE.format(character=character)]
    assert refusal.value.code == "single_line"


@pytest.mark.parametrize("text", ACCEPTED)
def test_ordinary_text_is_accepted(text: str) -> None:
    assert validate_single_line(text) is None
    assert validate_single_line_names({"en": text, "es": text}) is None


def test_a_paragraph_may_hold_line_feeds_but_no_carriage_return_or_other_control() -> None:
    assert validate_paragraph("First line.\nSecond line.") is None
    with pytest.raises(ValidationError) as refusal:
        validate_paragraph("First line.\r\nSecond line.")

    assert refusal.value.messages == [
        "Write this without carriage returns, tabs or invisible control characters; "
        "plain line breaks are allowed (found U+000D)."
    ]


def test_the_messages_are_translatable() -> None:
    # Lazy: each is translated into the reader's language when shown (es: locale/, compiled by the lead).
    for message in (SINGLE_LINE_MESSAGE, PARAGRAPH_MESSAGE, NAME_MESSAGE, NAMES_SHAPE_MESSAGE):
        assert isinstance(message, Promise)


def test_a_names_object_reports_each_language_with_a_bad_name() -> None:
    with pytest.raises(ValidationError) as refusal:
        validate_single_line_names({"en": "Health\r\n=1+1", "es": "Salud", "fr": "Santé\u2028"})

    assert refusal.value.messages == [
        "The name in “en”: write it on one line, without line breaks, tabs or invisible control characters "
        "(found U+000D).",
        "The name in “fr”: write it on one line, without line breaks, tabs or invisible control characters "
        "(found U+2028).",
    ]


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(["Health"], id="list"),
        pytest.param("Health", id="text"),
        pytest.param({"en": ["Health"]}, id="list-name"),
        pytest.param({"en": None}, id="null-name"),
    ],
)
def test_a_names_value_that_is_not_one_text_per_language_is_refused(names: Any) -> None:
    with pytest.raises(ValidationError) as refusal:
        validate_single_line_names(names)

    assert refusal.value.messages == [
        'Give one name per language as text, for example {"en": "Health", "es": "Salud"}.'
    ]


def test_a_language_key_with_a_control_character_is_shown_escaped() -> None:
    with pytest.raises(ValidationError) as refusal:
        validate_single_line_names({"en\r": "Health"})

    assert refusal.value.messages == [
        "The name in “'en\\r'”: write it on one line, without line breaks, tabs or invisible control characters "
        "(found U+000D)."
    ]


# --- Model fields --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "field", "value", "message"),
    [
        pytest.param(
            Coalition, "name", "Riverside\r\nPartnership", ONE_LINE.format(character="U+000D"), id="coalition"
        ),
        pytest.param(Wave, "label", "2026\nQ3", ONE_LINE.format(character="U+000A"), id="wave"),
        pytest.param(
            Sector,
            "names",
            {"en": "Health\u2029"},
            "The name in “en”: write it on one line, without line breaks, tabs or invisible control characters "
            "(found U+2029).",
            id="sector",
        ),
    ],
)
def test_the_model_fields_refuse_line_breaks(model: Any, field: str, value: Any, message: str) -> None:
    # What full_clean, the admin's forms and the services run for each field.
    with pytest.raises(ValidationError) as refusal:
        model._meta.get_field(field).clean(value, None)

    assert refusal.value.messages == [message]


# --- Services --------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("text", "character"), REFUSED[:4])
def test_creating_a_coalition_with_a_broken_name_is_refused_and_stores_nothing(text: str, character: str) -> None:
    with pytest.raises(services.ServiceError) as refusal:
        services.coalition_create(slug="riverside", name=text)

    assert str(refusal.value) == ONE_LINE.format(character=character)
    assert Coalition.objects.count() == 0
    assert Sector.objects.count() == 0


@pytest.mark.django_db
def test_creating_a_coalition_whose_sectors_file_holds_a_broken_name_is_refused(tmp_path: Path) -> None:
    sectors = tmp_path / "sectors.json"
    sectors.write_text(
        json.dumps(
            [
                {"slug": "health", "name": {"en": "Health", "es": "Salud"}},
                {"slug": "police", "name": {"en": "Police\r\n=1+1", "es": "Policía"}},
            ]
        ),
        encoding="utf-8",
    )

    with pytest.raises(services.ServiceError) as refusal:
        services.coalition_create(slug="riverside", name="Riverside Partnership", sectors_file=sectors)

    assert str(refusal.value) == (
        "Sector “police” is not valid: The name in “en”: write it on one line, without line breaks, tabs or "
        "invisible control characters (found U+000D)."
    )
    assert Sector.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(("text", "character"), REFUSED)
def test_creating_a_wave_with_a_broken_label_is_refused_and_stores_nothing(
    coalition: Coalition, instrument: Instrument, text: str, character: str
) -> None:
    with pytest.raises(services.ServiceError) as refusal:
        services.wave_create(coalition=coalition, label=text, instrument=instrument)

    assert str(refusal.value) == "The wave label is not valid: " + ONE_LINE.format(character=character)
    assert Wave.objects.count() == 0
