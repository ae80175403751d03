"""Turn an instrument into the steps, questions and choices the survey pages show.

Presentation only: no database access. The answers travel between steps in
a hidden form field, never in the session or the database, so an abandoned
survey leaves nothing behind on the server. The field is signed for the one
survey session that it was shown in (`state_dump` / `state_load`): a forged
or borrowed state is refused, never read.
"""

from dataclasses import dataclass, field
from typing import Any

from django.core import signing
from django.http import QueryDict
from django.utils.translation import gettext as _

from surveys.instruments import (
    NO_RELATIONSHIP,
    NOT_APPLICABLE,
    PAIR_PREFIX,
    InstrumentSpec,
    localized_text,
)

MAX_STATE_BYTES = 64 * 1024
# PRIVACY.md rule 14: every question offers "Prefer not to say". For items it
# is stored as no answer at all; social-location questions have their own
# "prefer-not-to-say" option, which is a group of its own in the results.
DECLINE = ""


@dataclass
class Choice:
    value: str
    label: str
    is_checked: bool = False


@dataclass
class QuestionView:
    slug: str
    field_name: str
    type: str
    text: str
    help: str = ""
    choices: list[Choice] = field(default_factory=list)
    rows: list["QuestionView"] = field(default_factory=list)
    value: str = ""
    max_choices: int | None = None
    max_length: int | None = None
    answer_text: str = ""


@dataclass
class Step:
    slug: str
    title: str
    intro: str
    question_slugs: list[str]
    is_about_you: bool = False


def steps_for(spec: InstrumentSpec, language: str, *, include_free_text: bool) -> list[Step]:
    """Return the question steps: the instrument's sections, then the social-location questions."""
    steps = [
        Step(
            slug=section["slug"],
            title=localized_text(section["title"], language),
            intro=localized_text(section.get("intro", {}), language),
            question_slugs=[item["slug"] for item in section["items"]],
        )
        for section in spec.sections(include_free_text=include_free_text)
    ]
    if spec.dimensions:
        steps.append(
            Step(
                slug="about-you",
                title=_("About you"),
                intro=_(
                    "These questions let the coalition see whether people in different "
                    "situations experience the partnership differently. Every one is "
                    "optional. Results are only ever shown for groups of at least 5 people "
                    "(10 for sensitive groups), never for one person."
                ),
                question_slugs=[dimension["slug"] for dimension in spec.dimensions],
                is_about_you=True,
            )
        )
    return steps


def _scale_labels(spec: InstrumentSpec, scale_slug: str, language: str) -> tuple[list[str], str]:
    scale = spec.scale(scale_slug)
    labels = scale["labels"].get(language) or scale["labels"]["en"]
    return list(labels), localized_text(scale.get("na_label", {}), language)


def _options(spec: InstrumentSpec, definition: dict[str, Any], language: str) -> list[tuple[str, str]]:
    if definition.get("options_from") == "areas":
        return [(area["slug"], localized_text(area["name"], language)) for area in spec.areas]
    return [(option["slug"], localized_text(option["label"], language)) for option in definition["options"]]


def question_views(
    spec: InstrumentSpec,
    step: Step,
    *,
    language: str,
    answers: dict[str, Any],
    sectors: list[dict[str, Any]],
) -> list[QuestionView]:
    """Return what the template needs to draw each question of `step`, with current answers."""
    views = []
    for slug in step.question_slugs:
        question = spec.questions[slug]
        definition = question.definition
        text = localized_text(definition.get("text") or definition.get("label", {}), language)
        help_text = localized_text(definition.get("help", {}), language)
        view = QuestionView(
            slug=slug,
            field_name=f"a-{slug}",
            type=question.type,
            text=text,
            help=help_text,
            max_choices=question.max_choices,
            max_length=definition.get("max_length"),
        )
        current = answers.get(slug)
        if question.type == "scale":
            labels, na_label = _scale_labels(spec, definition["scale"], language)
            view.choices = [
                Choice(str(point), f"{point} · {label}", current == point)
                for point, label in enumerate(labels, start=1)
            ]
            view.choices.append(Choice(NOT_APPLICABLE, na_label, current == NOT_APPLICABLE))
            view.choices.append(Choice(DECLINE, _("Prefer not to say"), False))
        elif question.type in ("single", "multiple"):
            selected = current if isinstance(current, list) else [current]
            view.choices = [
                Choice(value, label, value in selected) for value, label in _options(spec, definition, language)
            ]
            if not question.is_dimension:
                view.choices.append(Choice(DECLINE, _("Prefer not to say"), False))
        elif question.type == "pair_matrix":
            labels, _na = _scale_labels(spec, definition["scale"], language)
            none_label = localized_text(definition["none_label"], language)
            for sector in sectors:
                key = f"{PAIR_PREFIX}{sector['slug']}"
                value = answers.get(key)
                row = QuestionView(
                    slug=key,
                    field_name=f"a-{key}",
                    type="scale",
                    text=localized_text(sector["names"], language),
                )
                row.choices = [
                    Choice(str(point), f"{point} · {label}", value == point)
                    for point, label in enumerate(labels, start=1)
                ]
                row.choices.append(Choice(NO_RELATIONSHIP, none_label, value == NO_RELATIONSHIP))
                row.choices.append(Choice(DECLINE, _("Prefer not to say"), False))
                view.rows.append(row)
        elif question.type == "text":
            view.value = current if isinstance(current, str) else ""
        views.append(view)
    return views


def _coerce_number(raw: str, keywords: tuple[str, ...]) -> int | str:
    if raw in keywords:
        return raw
    try:
        return int(raw)
    except ValueError:
        return raw


def answers_from_post(
    spec: InstrumentSpec, step: Step, post: QueryDict, answers: dict[str, Any], sectors: list[dict[str, Any]]
) -> dict[str, Any]:
    """Return `answers` with the questions of `step` replaced by what was posted.

    A question left blank on this step is removed: nothing is required.
    """
    merged = dict(answers)
    for slug in step.question_slugs:
        question = spec.questions[slug]
        name = f"a-{slug}"
        if question.type == "pair_matrix":
            for sector in sectors:
                key = f"{PAIR_PREFIX}{sector['slug']}"
                raw = post.get(f"a-{key}", "")
                merged.pop(key, None)
                if raw:
                    merged[key] = _coerce_number(raw, (NO_RELATIONSHIP,))
            continue
        merged.pop(slug, None)
        if question.type == "multiple":
            values = [value for value in post.getlist(name) if value != DECLINE]
            if values and DECLINE not in post.getlist(name):
                merged[slug] = values
            continue
        raw = post.get(name, "")
        if question.type == "text":
            if raw.strip():
                merged[slug] = raw
        elif raw:
            merged[slug] = _coerce_number(raw, (NOT_APPLICABLE,)) if question.type == "scale" else raw
    return merged


class StateRefused(Exception):
    """The hidden state field is missing, too large, or not signed for this survey session."""


def _state_signer(invitation_token_hash: str, form_token: str) -> signing.Signer:
    # The salt names the session: the invitation's token hash (a state shown to
    # one member is worthless in another member's session) and the session's
    # random form token (nor does it outlive the session: Exit and a new visit
    # start afresh). No timestamp: the session's lifetime already bounds it.
    return signing.Signer(salt=f"surveys.state:{invitation_token_hash}:{form_token}")


def state_load(raw: str, *, invitation_token_hash: str, form_token: str) -> dict[str, Any]:
    """Return the answers carried in the hidden state field, or raise StateRefused.

    The size is checked before the signature, and the signature before the
    content is decompressed or parsed.
    """
    if not raw or len(raw) > MAX_STATE_BYTES or not invitation_token_hash or not form_token:
        raise StateRefused
    try:
        state = _state_signer(invitation_token_hash, form_token).unsign_object(raw)
    except (signing.BadSignature, ValueError) as error:
        raise StateRefused from error
    if not isinstance(state, dict):
        raise StateRefused
    return state


def state_dump(answers: dict[str, Any], *, invitation_token_hash: str, form_token: str) -> str:
    """Return the answers as a compressed value signed for this survey session."""
    return _state_signer(invitation_token_hash, form_token).sign_object(answers, compress=True)


def invited_people_rounded(count: int) -> int | None:
    """Return the invited count rounded for the introduction page, or None for fewer than 5.

    To the nearest 10 from 50, to the nearest 5 below (halves round up), so
    the figure is never 0: a member learns roughly how many people share the
    survey, not the exact roster size.
    """
    if count < 5:
        return None
    step = 10 if count >= 50 else 5
    return (count + step // 2) // step * step


def answer_summary(
    spec: InstrumentSpec,
    steps: list[Step],
    *,
    language: str,
    answers: dict[str, Any],
    sectors: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Return, per step, each question with the answer in words, for the review page."""
    summary = []
    for index, step in enumerate(steps, start=1):
        rows = []
        for view in question_views(spec, step, language=language, answers=answers, sectors=sectors):
            if view.rows:
                for row in view.rows:
                    chosen = [choice.label for choice in row.choices if choice.is_checked]
                    rows.append({"text": row.text, "answer": ", ".join(chosen)})
                continue
            if view.type == "text":
                rows.append({"text": view.text, "answer": view.value})
                continue
            chosen = [choice.label for choice in view.choices if choice.is_checked]
            rows.append({"text": view.text, "answer": ", ".join(chosen)})
        summary.append({"number": index, "title": step.title, "rows": rows})
    return summary
