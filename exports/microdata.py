"""Researcher microdata of closed waves: anonymized, audited against the published tables, coded (pure).

No Django here: the export job (`exports.services`) loads each wave's
responses and the groups its stored tables show, and calls:

- `wave_release`: the wave's k-anonymous quasi-identifiers (PRIVACY.md rule
  15, `analytics.engine.anonymization.anonymize`), then the joint audit of
  rule 4 over the wave's published groups (each with its "everyone else")
  together with every equivalence class of the microdata, suppressed rows
  included. Where the audit finds a set of 1..k−1 respondents that the
  published counts and the microdata's class sizes isolate together (for
  example a locally suppressed value that a dashboard cell gives back), the
  release is coarsened: one quasi-identifier goes up a level (the first in
  the hierarchies' tie order that can) and the audit runs again. With every
  quasi-identifier dropped the microdata adds nothing to the published
  tables; if the audit still finds something, the wave cannot be exported
  (`ReleaseError`).
- `microdata`: one row per response of every wave, coded as integers with
  value labels (or numbers for scores), and the `Variable`s describing them.

Determinism matters: two exports of the same wave must release the same
classes, or comparing them would give more away than either. Rows are put
in a canonical order (by their content) before anything is chosen, so the
result does not depend on the order the database returned them in. The row
order of the files is shuffled afterwards, by the writers.

What is never in the microdata: free text, timestamps, ids, invitation or
member data, the answers to the social-location questions other than as
generalized quasi-identifiers.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analytics.engine.anonymization import CLASS_PREFIX, Anonymization, anonymize, pattern_values, value_texts
from analytics.engine.breakdowns import group_sets
from analytics.engine.disclosure import Cell, cells_from_masks
from analytics.engine.disclosure.joint_audit import audit
from analytics.engine.frame import NO_RELATIONSHIP, NOT_APPLICABLE, PAIR_PREFIX, SECTOR, dimensions
from analytics.engine.publication import OVERALL_ID, disclosure_problem
from analytics.engine.scoring import area_scores, health_index
from exports.formats import Variable

Text = Mapping[str, str]

# Missing-value codes, the same in every format and every variable that can hold them.
NOT_ANSWERED = -9
DONT_KNOW = -8
SUPPRESSED = -7
NO_WORKING_RELATIONSHIP = -6
NOT_RELEASED = -5

PHRASES: dict[str, dict[str, str]] = {
    "not_answered": {"en": "Not answered (skipped)", "es": "Sin respuesta (omitida)"},
    "dont_know": {"en": "Don't know / not applicable", "es": "No sé / no aplica"},
    "suppressed": {
        "en": "Suppressed for this respondent (disclosure control)",
        "es": "Suprimido para esta persona (control de divulgación)",
    },
    "no_relationship": {"en": "No working relationship", "es": "Sin relación de trabajo"},
    "not_released": {
        "en": "Not released or not asked in this wave",
        "es": "No publicado o no preguntado en esta ronda",
    },
    "selected": {"en": "Selected", "es": "Seleccionado"},
    "not_selected": {"en": "Not selected", "es": "No seleccionado"},
    "wave": {"en": "Survey wave", "es": "Ronda de la encuesta"},
    "health": {
        "en": "Partnership health index (mean of area scores, 1-5)",
        "es": "Índice de salud de la alianza (media de las áreas, 1-5)",
    },
    "area_score": {
        "en": "Area score, 1-5 (higher is healthier): {name}",
        "es": "Puntuación del área, 1-5 (más alto es más sano): {name}",
    },
    "pair": {
        "en": "Strain in the working relationship with: {name}",
        "es": "Tensión en la relación de trabajo con: {name}",
    },
    "reverse": {
        "en": "Reverse-keyed: a higher answer means more strain; area scores reverse it (points + 1 − answer).",
        "es": (
            "Invertido: una respuesta más alta significa más tensión; las puntuaciones de área lo invierten "
            "(puntos + 1 − respuesta)."
        ),
    },
    "sector": {
        "en": "Sector (generalized for disclosure control)",
        "es": "Sector (generalizado para el control de divulgación)",
    },
    "qi": {
        "en": (
            "Quasi-identifier, generalized for disclosure control; the level used per wave is in the disclosure report."
        ),
        "es": (
            "Cuasi-identificador, generalizado para el control de divulgación; el nivel usado en cada ronda está "
            "en el informe de divulgación."
        ),
    },
    "area": {"en": "Area: {name}", "es": "Área: {name}"},
    "group_design": {"en": "Design", "es": "Diseño"},
    "group_qi": {"en": "Quasi-identifiers", "es": "Cuasi-identificadores"},
    "group_items": {"en": "Items", "es": "Preguntas"},
    "group_scores": {"en": "Scores", "es": "Puntuaciones"},
}
SCORE_DECIMALS = 2
# Stata allows 32 characters, but pyreadstat names the value-label set of a variable after it plus a counter
# ("name" + "74"), and that name must fit in 32 too: 29 leaves room for up to 999 labelled variables.
_NAME_LIMIT = 29


class ReleaseError(Exception):
    """A wave whose microdata cannot be released without isolating someone."""


@dataclass(frozen=True)
class WaveInput:
    """What the job knows about one wave: its label, responses frame, sectors and published groups.

    `published_ids` are the disclosure-control ids (`publication.cell_id`) of
    the groups that the wave's stored tables show in at least one measure.
    """

    label: str
    responses: pd.DataFrame
    sectors: tuple[str, ...]
    sector_names: Mapping[str, Text]
    sensitive_sectors: tuple[str, ...]
    published_ids: frozenset[str]
    k: int
    k_sensitive: int


@dataclass(frozen=True)
class WaveRelease:
    """A wave's released microdata: rows in canonical order, with their anonymized quasi-identifiers."""

    wave: WaveInput
    responses: pd.DataFrame
    anonymization: Anonymization
    audit_steps: tuple[dict[str, Any], ...] = field(default=())

    def report(self) -> dict[str, Any]:
        """Return the wave's part of the disclosure report (no count but k, classes and the suppressed rows)."""
        return {
            "wave": self.wave.label,
            **dict(self.anonymization.report),
            "joint_audit": {
                "published_groups": len(self.wave.published_ids),
                "coarsened_by_audit": list(self.audit_steps),
            },
        }


def canonical_order(responses: pd.DataFrame) -> np.ndarray:
    """Return the row order by content: the same rows in any order give the same sequence of rows."""
    digest = np.zeros(len(responses), dtype=np.uint64)
    for column in sorted(responses.columns):
        values = responses[column].to_numpy()
        if values.dtype == object:
            # str() of each element (in C): deterministic for the stored answers' types, lists included.
            values = value_texts(values)
        hashed = pd.util.hash_array(values)
        digest = digest * np.uint64(1_000_003) + hashed
    return np.argsort(digest, kind="stable")


def wave_release(
    *,
    wave: WaveInput,
    instrument: Mapping[str, Any],
    hierarchies: Mapping[str, Any],
    on_audit: Callable[[], None] | None = None,
) -> WaveRelease:
    """Return the wave's anonymized release that passes the joint audit with its published tables.

    `on_audit` is called before each round of the audit (for progress).
    """
    responses = wave.responses.iloc[canonical_order(wave.responses)].reset_index(drop=True)
    hierarchies = fitting_hierarchies(hierarchies, instrument)
    sets = group_sets(
        responses=responses, instrument=instrument, sensitive_sectors=wave.sensitive_sectors, sectors=wave.sectors
    )
    group_cells, _parents = disclosure_problem(sets)
    published = {cell.id for cell in group_cells if _published(cell.id, wave.published_ids)}
    order = [str(slug) for slug in hierarchies["tie_order"]]
    levels: dict[str, int] = {}
    steps: list[dict[str, Any]] = []
    while True:
        release = anonymize(
            responses=responses,
            instrument=instrument,
            hierarchies=hierarchies,
            k=wave.k,
            k_lived=wave.k_sensitive,
            sensitive_sectors=wave.sensitive_sectors,
            minimum_levels=levels,
        )
        class_cells = _class_cells(release)
        if on_audit is not None:
            on_audit()
        attack = audit(
            cells=[*group_cells, *class_cells],
            published_ids=published | {cell.id for cell in class_cells},
            k=wave.k,
            k_sensitive=wave.k_sensitive,
        )
        if attack is None:
            return WaveRelease(wave=wave, responses=responses, anonymization=release, audit_steps=tuple(steps))
        raisable = _raisable(release, order)
        if raisable is None:
            raise ReleaseError(wave.label)
        levels = dict(release.levels)
        levels[raisable] += 1
        steps.append({"quasi_identifier": raisable, "level": levels[raisable]})


def fitting_hierarchies(hierarchies: Mapping[str, Any], instrument: Mapping[str, Any]) -> dict[str, Any]:
    """Return the hierarchies without those that do not cover their dimension's options in this instrument.

    A custom instrument may reuse a slug of the default one ("gender") with
    other options. Its dimension then gets the generic hierarchy (its answer,
    then dropped), which is coarser and so never less safe; the report marks
    it `generic_hierarchy`.
    """
    levels = hierarchies["quasi_identifiers"]
    not_answered = str(hierarchies["not_answered"])
    unfit = set()
    for dimension in dimensions(instrument):
        hierarchy = levels.get(dimension.slug)
        if hierarchy is None:
            continue
        domain = set(_level_values(hierarchy["levels"][0]))
        if not set(pattern_values(dimension, not_answered=not_answered)) <= domain:
            unfit.add(dimension.slug)
    return {
        **hierarchies,
        "quasi_identifiers": {slug: value for slug, value in levels.items() if slug not in unfit},
        "tie_order": [slug for slug in hierarchies["tie_order"] if slug not in unfit],
    }


def _level_values(level: Mapping[str, Any]) -> list[str]:
    return [str(value) for value in level.get("values", [])]


def _published(identifier: str, published_ids: frozenset[str]) -> bool:
    if identifier == OVERALL_ID:
        return True
    # A shown group's remainder is the total minus the group: known as soon as the group is.
    return identifier.removeprefix("else:") in published_ids


def _class_cells(release: Anonymization) -> list[Cell]:
    masks = {f"{CLASS_PREFIX}{index}": release.class_of_row == index for index in range(len(release.class_labels))}
    return cells_from_masks(masks)


def _raisable(release: Anonymization, order: Sequence[str]) -> str | None:
    """Return the quasi-identifier to coarsen next: the first of the tie order that is not dropped yet."""
    slugs = list(release.levels)
    ranked = [slug for slug in slugs if slug not in order] + [slug for slug in order if slug in release.levels]
    for slug in ranked:
        if slug not in release.dropped:
            return slug
    return None


# --- Coding ---------------------------------------------------------------------------------------


def variable_name(slug: str, taken: set[str]) -> str:
    """Return an SPSS/Stata-safe name for `slug`: lowercase, [a-z0-9_], a letter first, at most 29 characters."""
    name = re.sub(r"[^a-z0-9]+", "_", slug.lower()).strip("_") or "v"
    if not name[0].isalpha():
        name = "v_" + name
    name = name[:_NAME_LIMIT].rstrip("_")
    candidate, number = name, 2
    while candidate in taken:
        suffix = f"_{number}"
        candidate = name[: _NAME_LIMIT - len(suffix)] + suffix
        number += 1
    taken.add(candidate)
    return candidate


def _text(value: Any, languages: Sequence[str]) -> dict[str, str]:
    if isinstance(value, Mapping):
        fallback = next(iter(value.values()), "")
        return {language: str(value.get(language) or value.get("en") or fallback) for language in languages}
    return {language: str(value) for language in languages}


def _phrase(key: str, languages: Sequence[str], **values: Any) -> dict[str, str]:
    phrases = PHRASES[key]
    return {
        language: phrases.get(language, phrases["en"]).format(
            **{name: (value[language] if isinstance(value, Mapping) else value) for name, value in values.items()}
        )
        for language in languages
    }


@dataclass
class _Column:
    variable: Variable
    values: list[np.ndarray]


def microdata(
    releases: Sequence[WaveRelease],
    *,
    instrument: Mapping[str, Any],
    hierarchies: Mapping[str, Any],
    languages: Sequence[str] = ("en", "es"),
) -> tuple[pd.DataFrame, list[Variable]]:
    """Return every wave's rows (waves in the given order) as coded columns, and their variables."""
    hierarchies = fitting_hierarchies(hierarchies, instrument)
    taken: set[str] = set()
    columns: list[tuple[Variable, np.ndarray]] = []

    wave_codes = (
        np.concatenate(
            [np.full(len(release.responses), position + 1, dtype=np.int16) for position, release in enumerate(releases)]
        )
        if releases
        else np.zeros(0, dtype=np.int16)
    )
    columns.append(
        (
            Variable(
                name=variable_name("wave", taken),
                label=_phrase("wave", languages),
                kind="integer",
                value_labels={
                    position + 1: {language: release.wave.label for language in languages}
                    for position, release in enumerate(releases)
                },
                group=_phrase("group_design", languages),
            ),
            wave_codes,
        )
    )
    columns += _quasi_identifier_columns(releases, instrument, hierarchies, languages, taken)
    columns += _item_columns(releases, instrument, languages, taken)
    columns += _score_columns(releases, instrument, languages, taken)
    frame = pd.DataFrame({variable.name: values for variable, values in columns})
    return frame, [variable for variable, _values in columns]


def _missing(*keys: tuple[int, str], languages: Sequence[str]) -> dict[int, dict[str, str]]:
    return {code: _phrase(key, languages) for code, key in keys}


def _quasi_identifier_columns(
    releases: Sequence[WaveRelease],
    instrument: Mapping[str, Any],
    hierarchies: Mapping[str, Any],
    languages: Sequence[str],
    taken: set[str],
) -> list[tuple[Variable, np.ndarray]]:
    not_answered = str(hierarchies["not_answered"])
    suppressed_value = str(hierarchies["suppressed"])
    top_value = str(hierarchies["any"])
    definitions = {SECTOR: None, **{str(d["slug"]): d for d in instrument["dimensions"]}}
    result: list[tuple[Variable, np.ndarray]] = []
    for slug, definition in definitions.items():
        if not releases or all(slug in release.anonymization.dropped for release in releases):
            continue  # generalized away in every wave: the column is left out
        labels = _value_labels(slug, definition, releases, hierarchies, languages)
        codes = {value: position + 1 for position, value in enumerate(labels)}
        parts = []
        for release in releases:
            if slug in release.anonymization.dropped:
                parts.append(np.full(len(release.responses), NOT_RELEASED, dtype=np.int16))
                continue
            values = release.anonymization.quasi_identifiers[slug].astype(str).to_numpy()
            mapping = {**codes, not_answered: NOT_ANSWERED, suppressed_value: SUPPRESSED, top_value: NOT_RELEASED}
            parts.append(np.array([mapping[value] for value in values.tolist()], dtype=np.int16))
        if definition is None:
            label = _phrase("sector", languages)
        else:
            label = _text(definition.get("label", slug), languages)
        result.append(
            (
                Variable(
                    name=variable_name(slug, taken),
                    label=label,
                    kind="integer",
                    value_labels={codes[value]: text for value, text in labels.items()},
                    missing=_missing(
                        (NOT_ANSWERED, "not_answered"),
                        (SUPPRESSED, "suppressed"),
                        (NOT_RELEASED, "not_released"),
                        languages=languages,
                    ),
                    description=_phrase("qi", languages),
                    group=_phrase("group_qi", languages),
                ),
                np.concatenate(parts),
            )
        )
    return result


def _value_labels(
    slug: str,
    definition: Mapping[str, Any] | None,
    releases: Sequence[WaveRelease],
    hierarchies: Mapping[str, Any],
    languages: Sequence[str],
) -> dict[str, dict[str, str]]:
    """Return value → label for every value a release of `slug` can hold, in the hierarchy's order."""
    excluded = {str(hierarchies["not_answered"]), str(hierarchies["suppressed"]), str(hierarchies["any"])}
    known: dict[str, Any] = {}
    if definition is None:
        for release in releases:
            for sector in release.wave.sectors:
                known.setdefault(sector, release.wave.sector_names.get(sector, sector))
    else:
        for option in definition["options"]:
            known[str(option["slug"])] = option.get("label", option["slug"])
    hierarchy = hierarchies["quasi_identifiers"].get(slug, {"levels": []})
    for level in hierarchy["levels"]:
        for value, text in level.get("labels", {}).items():
            known.setdefault(str(value), text)
    present: list[str] = []
    for release in releases:
        if slug in release.anonymization.dropped:
            continue
        for value in release.anonymization.quasi_identifiers[slug].cat.categories.astype(str):
            if value not in excluded and value not in present:
                present.append(value)
    return {value: _text(known.get(value, value), languages) for value in present}


def _item_columns(
    releases: Sequence[WaveRelease],
    instrument: Mapping[str, Any],
    languages: Sequence[str],
    taken: set[str],
) -> list[tuple[Variable, np.ndarray]]:
    scales = instrument["scales"]
    areas = {str(area["slug"]): area for area in instrument["areas"]}
    result: list[tuple[Variable, np.ndarray]] = []
    for section in instrument["sections"]:
        for item in section["items"]:
            kind = item["type"]
            text = _text(item.get("text", item["slug"]), languages)
            group = _text(section["title"], languages) if section.get("title") else _phrase("group_items", languages)
            if kind == "scale":
                scale = scales[item["scale"]]
                labels = {
                    point + 1: {
                        language: str(scale["labels"].get(language, scale["labels"]["en"])[point])
                        for language in languages
                    }
                    for point in range(int(scale["points"]))
                }
                # "Don't know" is declared on every scale item: answers imported from elsewhere may hold it
                # even where the scale offers no such label.
                missing = _missing((NOT_ANSWERED, "not_answered"), (DONT_KNOW, "dont_know"), languages=languages)
                if scale.get("na_label"):
                    missing[DONT_KNOW] = _text(scale["na_label"], languages)
                description = _describe_scale_item(item, areas, languages)
                values = _per_wave(releases, lambda frame, slug=item["slug"]: _scale_codes(frame, slug))
                result.append(
                    (
                        Variable(
                            name=variable_name(item["slug"], taken),
                            label=text,
                            kind="integer",
                            value_labels=labels,
                            missing=missing,
                            description=description,
                            group=group,
                        ),
                        values,
                    )
                )
            elif kind == "single":
                options = _options(item, areas, languages)
                codes = {slug: position + 1 for position, slug in enumerate(options)}
                values = _per_wave(
                    releases, lambda frame, slug=item["slug"], codes=codes: _single_codes(frame, slug, codes)
                )
                result.append(
                    (
                        Variable(
                            name=variable_name(item["slug"], taken),
                            label=text,
                            kind="integer",
                            value_labels={codes[slug]: label for slug, label in options.items()},
                            missing=_missing((NOT_ANSWERED, "not_answered"), languages=languages),
                            group=group,
                        ),
                        values,
                    )
                )
            elif kind == "multiple":
                for option, option_label in _options(item, areas, languages).items():
                    values = _per_wave(
                        releases, lambda frame, slug=item["slug"], option=option: _chosen_codes(frame, slug, option)
                    )
                    result.append(
                        (
                            Variable(
                                name=variable_name(f"{item['slug']}_{option}", taken),
                                label={
                                    language: f"{text[language]} — {option_label[language]}" for language in languages
                                },
                                kind="integer",
                                value_labels={
                                    1: _phrase("selected", languages),
                                    0: _phrase("not_selected", languages),
                                },
                                missing=_missing((NOT_ANSWERED, "not_answered"), languages=languages),
                                group=group,
                            ),
                            values,
                        )
                    )
            elif kind == "pair_matrix":
                result += _pair_columns(releases, item, scales, languages, taken, group)
            # `text` items (free text) are never exported (PRIVACY.md rules 13 and 15).
    return result


def _describe_scale_item(item: Mapping[str, Any], areas: Mapping[str, Any], languages: Sequence[str]) -> dict[str, str]:
    parts: list[dict[str, str]] = []
    if item.get("area") in areas:
        parts.append(_phrase("area", languages, name=_text(areas[item["area"]].get("name", item["area"]), languages)))
    if item.get("reverse"):
        parts.append(_phrase("reverse", languages))
    return {language: " ".join(part[language] for part in parts) for language in languages}


def _options(item: Mapping[str, Any], areas: Mapping[str, Any], languages: Sequence[str]) -> dict[str, dict[str, str]]:
    if item.get("options_from") == "areas":
        return {slug: _text(area.get("name", slug), languages) for slug, area in areas.items()}
    return {str(option["slug"]): _text(option.get("label", option["slug"]), languages) for option in item["options"]}


def _per_wave(releases: Sequence[WaveRelease], code: Any) -> np.ndarray:
    parts = [np.asarray(code(release.responses), dtype=np.int16) for release in releases]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def _column(frame: pd.DataFrame, slug: str) -> np.ndarray:
    if slug not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    return np.asarray(frame[slug].to_numpy(dtype=object), dtype=object)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _rating_codes(frame: pd.DataFrame, slug: str, *, text_answer: str, text_code: int) -> np.ndarray:
    """Return a rating column as codes: the number, `text_code` for `text_answer`, NOT_ANSWERED when skipped."""
    series = pd.Series(_column(frame, slug), dtype=object)
    missing = series.isna().to_numpy()
    text = (series == text_answer).to_numpy()
    numbers = pd.to_numeric(series.where(~(missing | text)), errors="coerce").to_numpy(dtype="float64")
    codes = np.where(text, text_code, np.nan_to_num(numbers, nan=NOT_ANSWERED))
    return np.asarray(codes, dtype=np.int16)


def _scale_codes(frame: pd.DataFrame, slug: str) -> np.ndarray:
    return _rating_codes(frame, slug, text_answer=NOT_APPLICABLE, text_code=DONT_KNOW)


def _single_codes(frame: pd.DataFrame, slug: str, codes: Mapping[str, int]) -> np.ndarray:
    series = pd.Series(_column(frame, slug), dtype=object)
    return np.asarray(series.map(codes).fillna(NOT_ANSWERED).to_numpy(dtype="float64"), dtype=np.int16)


def _chosen_codes(frame: pd.DataFrame, slug: str, option: str) -> np.ndarray:
    values = _column(frame, slug)
    chosen = [
        NOT_ANSWERED if _is_missing(value) else int(option in (value if isinstance(value, list) else [value]))
        for value in values.tolist()
    ]
    return np.asarray(chosen, dtype=np.int16)


def _pair_columns(
    releases: Sequence[WaveRelease],
    item: Mapping[str, Any],
    scales: Mapping[str, Any],
    languages: Sequence[str],
    taken: set[str],
    group: Mapping[str, str],
) -> list[tuple[Variable, np.ndarray]]:
    scale = scales[item["scale"]]
    points = int(scale["points"])
    labels = {
        point + 1: {
            language: str(scale["labels"].get(language, scale["labels"]["en"])[point]) for language in languages
        }
        for point in range(points)
    }
    names: dict[str, Any] = {}
    for release in releases:
        for sector in release.wave.sectors:
            names.setdefault(sector, release.wave.sector_names.get(sector, sector))
    result: list[tuple[Variable, np.ndarray]] = []
    for sector, name in names.items():
        parts = []
        for release in releases:
            if sector not in release.wave.sectors:
                parts.append(np.full(len(release.responses), NOT_RELEASED, dtype=np.int16))
                continue
            parts.append(
                _rating_codes(
                    release.responses,
                    PAIR_PREFIX + sector,
                    text_answer=NO_RELATIONSHIP,
                    text_code=NO_WORKING_RELATIONSHIP,
                )
            )
        result.append(
            (
                Variable(
                    name=variable_name(f"pair_{sector}", taken),
                    label=_phrase("pair", languages, name=_text(name, languages)),
                    kind="integer",
                    value_labels=labels,
                    missing=_missing(
                        (NOT_ANSWERED, "not_answered"),
                        (NO_WORKING_RELATIONSHIP, "no_relationship"),
                        (NOT_RELEASED, "not_released"),
                        languages=languages,
                    ),
                    description=_text(item.get("text", item["slug"]), languages),
                    group=group,
                ),
                np.concatenate(parts),
            )
        )
    return result


def _score_columns(
    releases: Sequence[WaveRelease],
    instrument: Mapping[str, Any],
    languages: Sequence[str],
    taken: set[str],
) -> list[tuple[Variable, np.ndarray]]:
    scores = [area_scores(responses=release.responses, instrument=instrument) for release in releases]
    health = [health_index(area_scores=frame) for frame in scores]
    result: list[tuple[Variable, np.ndarray]] = []
    result.append(
        (
            Variable(
                name=variable_name("health_index", taken),
                label=_phrase("health", languages),
                kind="number",
                decimals=SCORE_DECIMALS,
                group=_phrase("group_scores", languages),
            ),
            _rounded([series.to_numpy(dtype="float64") for series in health]),
        )
    )
    for area in instrument["areas"]:
        slug = str(area["slug"])
        result.append(
            (
                Variable(
                    name=variable_name(f"score_{slug}", taken),
                    label=_phrase("area_score", languages, name=_text(area.get("name", slug), languages)),
                    kind="number",
                    decimals=SCORE_DECIMALS,
                    group=_phrase("group_scores", languages),
                ),
                _rounded([frame[slug].to_numpy(dtype="float64") for frame in scores]),
            )
        )
    return result


def _rounded(parts: list[np.ndarray]) -> np.ndarray:
    values = np.concatenate(parts) if parts else np.zeros(0)
    return np.round(values, SCORE_DECIMALS)
