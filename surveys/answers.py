"""Validation of a set of answers against an instrument and a wave's sectors.

One validator serves the web form, the API and the CSV import, so that every
path accepts and refuses exactly the same answers. Nothing is ever required
(PRIVACY.md rule 14): a missing key means the question was skipped.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from surveys.instruments import (
    NO_RELATIONSHIP,
    NOT_APPLICABLE,
    PAIR_PREFIX,
    PREFER_NOT_TO_SAY,
    InstrumentSpec,
    Question,
)

MAX_TEXT_LENGTH = 4000

# PRIVACY.md rule 13: contact details and long numbers are redacted before storage.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_URL = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
_PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")
_LONG_DIGITS = re.compile(r"\d{5,}")
REDACTED = "[removed]"


@dataclass(frozen=True)
class AnswerError:
    field: str
    message: str


class AnswersInvalid(ValueError):
    """Answers that cannot be stored; `errors` names every problem."""

    def __init__(self, errors: list[AnswerError]) -> None:
        super().__init__("; ".join(f"{error.field}: {error.message}" for error in errors))
        self.errors = errors


def text_redact(text: str) -> str:
    """Return `text` with emails, URLs, phone numbers and long digit strings removed."""
    for pattern in (_EMAIL, _URL, _PHONE, _LONG_DIGITS):
        text = pattern.sub(REDACTED, text)
    return text


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _clean_scale(question: Question, value: Any) -> int | str:
    if value == NOT_APPLICABLE:
        return NOT_APPLICABLE
    if not _is_integer(value):
        raise ValueError(_("must be a whole number or “na”"))
    if not 1 <= value <= question.points:
        raise ValueError(_("must be between 1 and %(points)d, or “na”") % {"points": question.points})
    return int(value)


def _clean_single(question: Question, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(_("must be one option"))
    if value not in question.option_slugs:
        raise ValueError(_("“%(value)s” is not one of the options") % {"value": value[:60]})
    return value


def _clean_multiple(question: Question, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(option, str) for option in value):
        raise ValueError(_("must be a list of options"))
    if not value:
        raise ValueError(_("must hold at least one option; leave the question out to skip it"))
    if len(set(value)) != len(value):
        raise ValueError(_("names an option twice"))
    unknown = [option for option in value if option not in question.option_slugs]
    if unknown:
        raise ValueError(_("“%(value)s” is not one of the options") % {"value": unknown[0][:60]})
    if PREFER_NOT_TO_SAY in value and len(value) > 1:
        raise ValueError(_("“Prefer not to say” cannot be combined with other options"))
    if question.max_choices is not None and len(value) > question.max_choices:
        raise ValueError(_("allows at most %(count)d choices") % {"count": question.max_choices})
    # Stored in the instrument's order so equal answers are equal documents.
    return [option for option in question.option_slugs if option in value]


def _clean_pair(question: Question, value: Any) -> int | str:
    if value == NO_RELATIONSHIP:
        return NO_RELATIONSHIP
    if not _is_integer(value) or not 1 <= value <= question.points:
        raise ValueError(_("must be between 1 and %(points)d, or “none”") % {"points": question.points})
    return int(value)


def _clean_text(question: Question, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(_("must be text"))
    limit = min(question.definition.get("max_length", MAX_TEXT_LENGTH), MAX_TEXT_LENGTH)
    if len(value) > limit:
        raise ValueError(_("is longer than %(limit)d characters") % {"limit": limit})
    return text_redact(value.strip())


_CLEANERS = {
    "scale": _clean_scale,
    "single": _clean_single,
    "multiple": _clean_multiple,
    "text": _clean_text,
}


def answers_clean(
    *,
    spec: InstrumentSpec,
    sector_slugs: Iterable[str],
    answers: Any,
    is_free_text_enabled: bool = False,
) -> dict[str, Any]:
    """Return the cleaned answers, or raise `AnswersInvalid` listing every problem."""
    if not isinstance(answers, Mapping):
        raise AnswersInvalid([AnswerError("answers", _("must be an object of answers"))])
    sectors = set(sector_slugs)
    pair_question = spec.pair_matrix
    cleaned: dict[str, Any] = {}
    errors: list[AnswerError] = []
    for key, value in answers.items():
        if not isinstance(key, str):
            errors.append(AnswerError(str(key), _("unknown question")))
            continue
        if key.startswith(PAIR_PREFIX):
            rated = key.removeprefix(PAIR_PREFIX)
            if pair_question is None or rated not in sectors:
                errors.append(AnswerError(key[:80], _("unknown sector in the sector-pair matrix")))
                continue
            try:
                cleaned[key] = _clean_pair(pair_question, value)
            except ValueError as error:
                errors.append(AnswerError(key, str(error)))
            continue
        question = spec.questions.get(key)
        if question is None or question.type == "pair_matrix":
            errors.append(AnswerError(key[:80], _("unknown question")))
            continue
        if question.type == "text" and not (question.is_enabled and is_free_text_enabled):
            errors.append(AnswerError(key, _("free-text comments are not collected in this survey")))
            continue
        if value is None:
            continue
        try:
            cleaned[key] = _CLEANERS[question.type](question, value)
        except ValueError as error:
            errors.append(AnswerError(key, str(error)))
    if errors:
        raise AnswersInvalid(errors)
    return cleaned
