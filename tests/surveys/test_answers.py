"""The one validator behind the web form, the API and the CSV import."""

import json
from typing import Any

import pytest

from surveys.answers import AnswersInvalid, answers_clean, text_redact
from surveys.instruments import DEFAULT_INSTRUMENT_PATH, InstrumentSpec

SECTORS = ["law-enforcement", "victim-services", "survivor-leaders"]


@pytest.fixture(scope="module")
def spec() -> InstrumentSpec:
    return InstrumentSpec.from_definition(json.loads(DEFAULT_INSTRUMENT_PATH.read_text()))


def clean(spec: InstrumentSpec, answers: Any, free_text: bool = False) -> dict[str, Any]:
    return answers_clean(spec=spec, sector_slugs=SECTORS, answers=answers, is_free_text_enabled=free_text)


def test_accepts_every_kind_of_answer(spec: InstrumentSpec) -> None:
    answers = {
        "power-1": 5,
        "power-strain": "na",
        "pair:law-enforcement": 2,
        "pair:victim-services": "none",
        "change": "better",
        "top-areas": ["trust", "power"],
        "gender": ["woman", "non-binary"],
        "lived-experience": "prefer-not-to-say",
    }

    cleaned = clean(spec, answers)

    # Multi-select answers are stored in the instrument's order.
    assert cleaned == {**answers, "top-areas": ["power", "trust"]}


def test_accepts_an_empty_submission_because_nothing_is_required(spec: InstrumentSpec) -> None:
    assert clean(spec, {}) == {}


def test_drops_explicit_nulls_as_skipped(spec: InstrumentSpec) -> None:
    assert clean(spec, {"power-1": None, "trust-1": 3}) == {"trust-1": 3}


@pytest.mark.parametrize(
    ("answers", "field", "message"),
    [
        pytest.param({"nonsense": 3}, "nonsense", "unknown question", id="unknown-item"),
        pytest.param({"power-1": 6}, "power-1", "must be between 1 and 5, or “na”", id="above-range"),
        pytest.param({"power-1": 0}, "power-1", "must be between 1 and 5, or “na”", id="below-range"),
        pytest.param({"power-1": "4"}, "power-1", "must be a whole number or “na”", id="string-number"),
        pytest.param({"power-1": 3.5}, "power-1", "must be a whole number or “na”", id="float"),
        pytest.param({"power-1": True}, "power-1", "must be a whole number or “na”", id="boolean"),
        pytest.param({"change": "much-better"}, "change", "“much-better” is not one of the options", id="bad-option"),
        pytest.param({"change": ["better"]}, "change", "must be one option", id="list-for-single"),
        pytest.param({"gender": "woman"}, "gender", "must be a list of options", id="string-for-multiple"),
        pytest.param(
            {"gender": []},
            "gender",
            "must hold at least one option; leave the question out to skip it",
            id="empty-list",
        ),
        pytest.param({"gender": ["woman", "woman"]}, "gender", "names an option twice", id="duplicate"),
        pytest.param(
            {"gender": ["woman", "prefer-not-to-say"]},
            "gender",
            "“Prefer not to say” cannot be combined with other options",
            id="prefer-not-to-say-combined",
        ),
        pytest.param(
            {"top-areas": ["power", "trust", "credit", "values"]},
            "top-areas",
            "allows at most 3 choices",
            id="top-4",
        ),
        pytest.param(
            {"pair:funders": 3},
            "pair:funders",
            "unknown sector in the sector-pair matrix",
            id="pair-unknown-sector",
        ),
        pytest.param(
            {"pair:law-enforcement": 9},
            "pair:law-enforcement",
            "must be between 1 and 5, or “none”",
            id="pair-range",
        ),
        pytest.param({"pair": 3}, "pair", "unknown question", id="matrix-slug-itself"),
        pytest.param(
            {"comment": "hello"},
            "comment",
            "free-text comments are not collected in this survey",
            id="text-off",
        ),
    ],
)
def test_rejects_invalid_answers_naming_the_field(
    spec: InstrumentSpec, answers: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(AnswersInvalid) as raised:
        clean(spec, answers)

    assert [(error.field, error.message) for error in raised.value.errors] == [(field, message)]


def test_reports_every_problem_at_once(spec: InstrumentSpec) -> None:
    with pytest.raises(AnswersInvalid) as raised:
        clean(spec, {"power-1": 7, "trust-1": 2, "x": 1})

    assert [error.field for error in raised.value.errors] == ["power-1", "x"]


def test_rejects_answers_that_are_not_an_object(spec: InstrumentSpec) -> None:
    with pytest.raises(AnswersInvalid) as raised:
        clean(spec, [1, 2, 3])

    assert raised.value.errors[0].message == "must be an object of answers"


def test_rejects_free_text_when_the_item_is_disabled_even_if_the_coalition_allows_it(
    spec: InstrumentSpec,
) -> None:
    # The default instrument ships its comment item disabled.
    with pytest.raises(AnswersInvalid):
        clean(spec, {"comment": "hello"}, free_text=True)


def test_redacts_contact_details_and_long_numbers() -> None:
    text = "Mail ana.p@example.org or call +1 (555) 123-4567, see https://x.example/a, case 889911."

    assert text_redact(text) == "Mail [removed] or call [removed], see [removed] case [removed]."
