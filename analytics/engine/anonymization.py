"""k-anonymous quasi-identifiers for researcher microdata (PRIVACY.md rule 15).

The quasi-identifiers (QIs) are the sector and every social-location
dimension of the instrument. `anonymize` returns, for every response, the
generalized value of each QI such that every combination of the QIs kept
holds at least k rows:

- k = `k` (5), or `k_lived` (10) for every class while a sensitive dimension
  (lived experience) is kept, i.e. not generalized to its top level. Values
  that a hierarchy marks `sensitive` at its first level (the survivor-leaders
  sector) also need `k_lived` for their classes while that level is in use.
- Each QI is generalized along a fixed hierarchy defined in data
  (`analytics/data/generalization.json`, `load_hierarchies`): level 0 is the
  answer (a multi-select answer reduced to its pattern: the single option
  chosen, `more-than-one`, `prefer-not-to-say` when it is the only choice or
  is chosen with others — the refusal wins —, or `not-answered`), each
  further level maps every value of the level below to one value, and the
  last level maps everything to `any`: the QI is dropped.
- The search is greedy and deterministic. At the current levels, the rows in
  too-small classes are locally suppressed when they are at most
  `max_suppressed_share` of the rows (rounded down) and they form a class of
  0 or ≥ k rows; when they are fewer than k, rows are added from the largest
  classes that stay ≥ their threshold (the last rows of the class in frame
  order). Otherwise one QI goes up one level — the QI whose next level
  leaves the fewest rows in too-small classes; among equals, a step that
  does not drop a QI before one that does, then the step to the lowest level
  (every QI is coarsened once before any is coarsened twice), then the
  hierarchies' `tie_order` (QIs it does not list first, in instrument
  order) — and the check repeats. Without the first two tie-breaks a small
  wave, where every step leaves all rows in too-small classes, would drop
  whole dimensions in the fixed order before coarsening any other one.
  With every QI at its top level all rows form one class, so the search
  ends; it fails only when the wave has fewer than k rows.
- A suppressed row holds `suppressed` in every QI column (its item answers
  are not touched here). Suppressed rows are one more equivalence class,
  with 0 or ≥ k rows, so its size may be published.

`Anonymization.classes` gives every equivalence class of the export (the
suppressed class included) as a boolean mask over the rows, for the joint
audit (rule 4). The report holds no count of an intermediate state: only k,
the levels chosen, the steps taken, and the size of the suppressed class.
"""

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analytics.engine.disclosure.joint_audit import validate_thresholds
from analytics.engine.frame import PREFER_NOT_TO_SAY, SECTOR, Dimension, dimensions

DEFAULT_HIERARCHIES_PATH = Path(__file__).resolve().parent.parent / "data" / "generalization.json"
MAX_SUPPRESSED_SHARE = 0.05
MORE_THAN_ONE = "more-than-one"
CLASS_PREFIX = "microdata:"
SUPPRESSED_CLASS = CLASS_PREFIX + "suppressed"

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

# Class keys are combined in mixed radix and renumbered before they could overflow.
_KEY_LIMIT = 1 << 62


class AnonymizationError(ValueError):
    """The responses cannot be made k-anonymous: fewer rows than k."""


@dataclass(frozen=True)
class Hierarchy:
    """One QI's generalization hierarchy, parsed and checked.

    `domains[level]` is the level's domain in file order; `maps[level]` maps
    every value of `level - 1` to a value of `level` (`maps[0]` is empty),
    with `defaults[level]` for values the map does not list. An `is_open`
    first level keeps values it does not list (sectors a coalition added).
    """

    slug: str
    level_names: tuple[str, ...]
    domains: tuple[tuple[str, ...], ...]
    maps: tuple[Mapping[str, str], ...]
    defaults: tuple[str | None, ...]
    is_open: bool
    sensitive: frozenset[str]
    is_generic: bool = False

    @property
    def top(self) -> int:
        """Return the index of the last level (`any`: the QI is dropped)."""
        return len(self.domains) - 1

    def generalize(self, value: str, level: int) -> str:
        """Return the value of a level-0 `value` at `level`."""
        for step in range(1, level + 1):
            value = _step(self, value, step)
        return value


@dataclass(frozen=True)
class Anonymization:
    """The result of `anonymize`; rows in the order of the responses frame.

    - `quasi_identifiers`: one categorical column of strings per QI (sector
      first, then the instrument's dimensions), indexed like the responses.
      A dropped QI holds `any`; a suppressed row holds `suppressed` in every
      column. The export leaves dropped QIs out.
    - `levels`, `level_names`: the level chosen per QI.
    - `suppressed`: the rows whose QIs were locally suppressed.
    - `dropped`: the QIs at their top level, in column order.
    - `k`: the threshold every class meets (`k_lived` while a sensitive
      dimension is kept); `k_sensitive`: the threshold of classes holding a
      sensitive value (`sensitive_values`).
    - `class_labels`, `class_of_row`: every equivalence class of the export
      (sorted by the QIs' values, the suppressed class `SUPPRESSED_CLASS`
      last) and each row's class; `classes` gives them as masks.
    - `report`: the disclosure report, JSON-ready.
    """

    quasi_identifiers: pd.DataFrame
    levels: Mapping[str, int]
    level_names: Mapping[str, str]
    suppressed: BoolArray
    dropped: tuple[str, ...]
    k: int
    k_sensitive: int
    sensitive_values: Mapping[str, tuple[str, ...]]
    class_labels: tuple[str, ...]
    class_of_row: IntArray
    report: Mapping[str, Any]

    @property
    def classes(self) -> dict[str, BoolArray]:
        """Return class label → mask over the rows, for every class (built on each call: classes × rows booleans)."""
        return {label: self.class_of_row == index for index, label in enumerate(self.class_labels)}


def load_hierarchies(path: Path = DEFAULT_HIERARCHIES_PATH) -> dict[str, Any]:
    """Return the generalization hierarchies file as a dict (checked by `validate_hierarchies` when used)."""
    with path.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


def _level_values(level: Mapping[str, Any]) -> tuple[str, ...]:
    if "values" in level:
        return tuple(str(value) for value in level["values"])
    values = list(dict.fromkeys(str(value) for value in level["map"].values()))
    default = level.get("default")
    if default is not None and str(default) not in values:
        values.append(str(default))
    return tuple(values)


def validate_hierarchies(hierarchies: Mapping[str, Any]) -> dict[str, Hierarchy]:
    """Parse the hierarchies file; raise ValueError unless every level is a total function of the one below.

    Checked: at least two levels; the first lists its values, without
    duplicates; every later level maps each value of the level below (or
    has a `default`) and lists no unknown value; the last level maps
    everything to the file's `any` and only it does; `sensitive` values are
    values of the first level; `tie_order` names known QIs.
    """
    top_value = str(hierarchies["any"])
    reserved = {str(hierarchies["suppressed"])}
    parsed: dict[str, Hierarchy] = {}
    for slug, definition in hierarchies["quasi_identifiers"].items():
        levels = definition["levels"]
        if len(levels) < 2:
            raise ValueError(f"{slug}: a hierarchy needs at least two levels")
        if "values" not in levels[0] or "map" in levels[0]:
            raise ValueError(f"{slug}: the first level lists its values and maps nothing")
        values = [_level_values(level) for level in levels]
        if len(set(values[0])) != len(values[0]):
            raise ValueError(f"{slug}: the first level lists a value twice")
        maps: list[Mapping[str, str]] = [{}]
        defaults: list[str | None] = [None]
        for index, level in enumerate(levels[1:], start=1):
            if "map" not in level or "values" in level:
                raise ValueError(f"{slug}: level {index} maps the level below and lists no values")
            mapping = {str(key): str(value) for key, value in level["map"].items()}
            default = level.get("default")
            missing = [value for value in values[index - 1] if value not in mapping]
            if missing and default is None:
                raise ValueError(f"{slug}: level {index} does not map {missing}")
            unknown = sorted(set(mapping) - set(values[index - 1]))
            if unknown:
                raise ValueError(f"{slug}: level {index} maps unknown values {unknown}")
            maps.append(mapping)
            defaults.append(None if default is None else str(default))
        if values[-1] != (top_value,):
            raise ValueError(f"{slug}: the last level must map everything to {top_value!r}")
        if any(top_value in level_values for level_values in values[:-1]):
            raise ValueError(f"{slug}: only the last level may hold {top_value!r}")
        if any(reserved & set(level_values) for level_values in values):
            raise ValueError(f"{slug}: {sorted(reserved)} is reserved for suppressed rows")
        sensitive = frozenset(str(value) for value in levels[0].get("sensitive", ()))
        if not sensitive <= set(values[0]):
            raise ValueError(f"{slug}: sensitive values must be values of the first level")
        parsed[str(slug)] = Hierarchy(
            slug=str(slug),
            level_names=tuple(str(level["name"]) for level in levels),
            domains=tuple(values),
            maps=tuple(maps),
            defaults=tuple(defaults),
            is_open=bool(levels[0].get("open", False)),
            sensitive=sensitive,
        )
    unknown_order = sorted(set(hierarchies["tie_order"]) - set(parsed))
    if unknown_order:
        raise ValueError(f"tie_order names unknown quasi-identifiers {unknown_order}")
    return parsed


def pattern_values(dimension: Dimension, *, not_answered: str) -> tuple[str, ...]:
    """Return the level-0 values of a dimension: its options, or for a multi-select one its patterns."""
    answers = [option for option in dimension.options if option != PREFER_NOT_TO_SAY]
    if dimension.is_multiple:
        answers.append(MORE_THAN_ONE)
    if PREFER_NOT_TO_SAY in dimension.options:
        answers.append(PREFER_NOT_TO_SAY)
    return (*answers, not_answered)


def _generic_hierarchy(dimension: Dimension, *, not_answered: str, top_value: str) -> Hierarchy:
    """Return the two-level hierarchy of a dimension the hierarchies file does not cover."""
    values = pattern_values(dimension, not_answered=not_answered)
    return Hierarchy(
        slug=dimension.slug,
        level_names=("answer", top_value),
        domains=(values, (top_value,)),
        maps=({}, dict.fromkeys(values, top_value)),
        defaults=(None, None),
        is_open=False,
        sensitive=frozenset(),
        is_generic=True,
    )


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return value is pd.NA or value is pd.NaT


def value_texts(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Return each value's str() as an object array, missing values as one marker of their own.

    numpy converts in C, but refuses lists (multi-select answers): those columns go through pandas.
    """
    missing = pd.isna(values)
    try:
        text = values.astype(str)
    except ValueError:
        text = pd.Series(values, dtype=object).astype(str).to_numpy(dtype=object)
    return np.where(missing, "\x00missing", text).astype(object)


def _by_unique(column: Iterable[Any], function: Any) -> list[str]:
    """Return `function(value)` for every value, computed once per distinct value (type and text)."""
    # A Series keeps lists as values; np.asarray would turn equal-length lists into a second axis.
    if isinstance(column, pd.Series):
        series = column.reset_index(drop=True).astype(object)
    elif isinstance(column, np.ndarray) and column.ndim == 1:
        series = pd.Series(column, dtype=object)
    else:
        series = pd.Series(list(column), dtype=object)
    if not len(series):
        return []
    values = series.to_numpy(dtype=object)
    # Distinct values by their text (numpy's str() of each element, in C), missing values apart. Every
    # function here reads a value through str() or as a list, so equal texts give equal results; a list
    # and a string spelling it could only meet in invalid stored answers.
    text = value_texts(values)
    codes, uniques = pd.factorize(text)
    first = np.full(len(uniques), -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    results = np.array([function(values[index]) for index in first.tolist()], dtype=object)
    return list(results[codes].tolist())


def _answer_patterns(column: Iterable[Any], dimension: Dimension, *, not_answered: str) -> list[str]:
    """Return each row's level-0 value of `dimension` (unknown or missing answers are `not_answered`)."""
    options = set(dimension.options)

    def pattern(value: Any) -> str:
        if dimension.is_multiple:
            chosen = [] if _is_missing(value) or isinstance(value, str) else list(value)
            known = {str(option) for option in chosen if str(option) in options}
            if PREFER_NOT_TO_SAY in known:
                return PREFER_NOT_TO_SAY
            if len(known) >= 2:
                return MORE_THAN_ONE
            if len(known) == 1:
                return known.pop()
            return not_answered
        if not _is_missing(value) and str(value) in options:
            return str(value)
        return not_answered

    return _by_unique(column, pattern)


def _sectors(column: Iterable[Any], hierarchy: Hierarchy, *, not_answered: str) -> list[str]:
    known = set(hierarchy.domains[0])

    def sector(value: Any) -> str:
        if _is_missing(value):
            return not_answered
        if str(value) in known or hierarchy.is_open:
            return str(value)
        return not_answered

    return _by_unique(column, sector)


@dataclass(frozen=True)
class _Coded:
    """One QI of the wave: its hierarchy, and per level the domain and every row's code in it."""

    hierarchy: Hierarchy
    domains: tuple[tuple[str, ...], ...]
    codes: tuple[IntArray, ...]
    sensitive_rows: BoolArray  # rows whose level-0 value is sensitive


def _code(hierarchy: Hierarchy, base: list[str], sensitive: frozenset[str]) -> _Coded:
    extra = sorted(set(base) - set(hierarchy.domains[0]))
    domain0 = (*hierarchy.domains[0], *extra)
    index0 = {value: position for position, value in enumerate(domain0)}
    codes = [np.fromiter((index0[value] for value in base), dtype=np.int64, count=len(base))]
    domains = [domain0]
    for level in range(1, hierarchy.top + 1):
        domain = hierarchy.domains[level]
        position = {value: index for index, value in enumerate(domain)}
        lookup = np.array([position[_step(hierarchy, value, level)] for value in domains[-1]], dtype=np.int64)
        codes.append(lookup[codes[-1]])
        domains.append(domain)
    sensitive_codes = np.array([value in sensitive for value in domain0], dtype=np.bool_)
    return _Coded(
        hierarchy=hierarchy,
        domains=tuple(domains),
        codes=tuple(codes),
        sensitive_rows=sensitive_codes[codes[0]],
    )


def _step(hierarchy: Hierarchy, value: str, level: int) -> str:
    """Return the value at `level` of a value of `level - 1`."""
    mapped = hierarchy.maps[level].get(value, hierarchy.defaults[level])
    if mapped is None:
        raise ValueError(f"{hierarchy.slug}: level {level} has no value for {value!r}")
    return mapped


def _class_ids(columns: Sequence[IntArray], sizes: Sequence[int], rows: int) -> tuple[IntArray, IntArray]:
    """Return every row's class (index into the sorted distinct combinations) and each class's size."""
    key = np.zeros(rows, dtype=np.int64)
    span = 1
    for column, size in zip(columns, sizes, strict=True):
        if span * size >= _KEY_LIMIT:
            distinct, key = np.unique(key, return_inverse=True)
            key = key.astype(np.int64)
            span = len(distinct)
        key = key * size + column
        span *= size
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    return inverse.astype(np.int64).reshape(rows), counts.astype(np.int64)


class _Search:
    """The greedy search over levels; every method is a pure function of the levels given."""

    def __init__(
        self,
        coded: Sequence[_Coded],
        *,
        sensitive_dimensions: frozenset[int],
        k: int,
        k_lived: int,
        budget: int,
        rows: int,
    ) -> None:
        self.coded = coded
        self.sensitive_dimensions = sensitive_dimensions
        self.k = k
        self.k_lived = k_lived
        self.budget = budget
        self.rows = rows

    def required_k(self, levels: Sequence[int]) -> int:
        kept = any(levels[index] < self.coded[index].hierarchy.top for index in self.sensitive_dimensions)
        return self.k_lived if kept else self.k

    def thresholds(self, levels: Sequence[int]) -> IntArray:
        sensitive = np.zeros(self.rows, dtype=np.bool_)
        for coded, level in zip(self.coded, levels, strict=True):
            if level == 0:
                sensitive |= coded.sensitive_rows
        return np.where(sensitive, self.k_lived, self.required_k(levels)).astype(np.int64)

    def classes(self, levels: Sequence[int]) -> tuple[IntArray, IntArray]:
        columns = [coded.codes[level] for coded, level in zip(self.coded, levels, strict=True)]
        sizes = [len(coded.domains[level]) for coded, level in zip(self.coded, levels, strict=True)]
        return _class_ids(columns, sizes, self.rows)

    def small_rows(self, levels: Sequence[int]) -> BoolArray:
        inverse, counts = self.classes(levels)
        return np.asarray(counts[inverse] < self.thresholds(levels), dtype=np.bool_)

    def suppression(self, levels: Sequence[int]) -> BoolArray | None:
        """Return the rows to suppress at `levels`, or None when no suppression within the budget works."""
        inverse, counts = self.classes(levels)
        thresholds = self.thresholds(levels)
        suppressed = np.asarray(counts[inverse] < thresholds, dtype=np.bool_)
        count = int(np.count_nonzero(suppressed))
        required = self.required_k(levels)
        if count == 0:
            return suppressed
        if count > self.budget or required > self.budget:
            return None
        need = required - count
        if need <= 0:
            return suppressed
        class_threshold = np.zeros(len(counts), dtype=np.int64)
        class_threshold[inverse] = thresholds
        spare = np.where(counts >= class_threshold, counts - class_threshold, 0)
        # Largest spare first, then the class that sorts first.
        for chosen in np.lexsort((np.arange(len(counts)), -spare)).tolist():
            if need == 0 or spare[chosen] == 0:
                break
            take = int(min(spare[chosen], need))
            members = np.flatnonzero(inverse == chosen)
            suppressed[members[-take:]] = True
            need -= take
        return suppressed if need == 0 else None


def _tie_rank(qi_slugs: Sequence[str], tie_order: Sequence[str]) -> dict[str, int]:
    unlisted = [slug for slug in qi_slugs if slug not in tie_order]
    ordered = unlisted + [slug for slug in tie_order if slug in qi_slugs]
    return {slug: rank for rank, slug in enumerate(ordered)}


def _class_label(values: Sequence[tuple[str, str]]) -> str:
    return CLASS_PREFIX + (";".join(f"{slug}={value}" for slug, value in values) or "any")


def anonymize(
    *,
    responses: pd.DataFrame,
    instrument: Mapping[str, Any],
    hierarchies: Mapping[str, Any],
    k: int = 5,
    k_lived: int = 10,
    max_suppressed_share: float = MAX_SUPPRESSED_SHARE,
    sensitive_sectors: Iterable[str] | None = None,
    minimum_levels: Mapping[str, int] | None = None,
) -> Anonymization:
    """Return k-anonymous quasi-identifiers for `responses` (see the module docstring).

    `hierarchies` is the generalization file (`load_hierarchies`).
    `sensitive_sectors` are the wave's sensitive sector slugs (their classes
    need `k_lived` while the sector is not generalized); by default the
    sector hierarchy's `sensitive` values (survivor-leaders). Raise
    ValueError for thresholds below rule 1's, a share above 5%, or a
    hierarchy that does not cover an option of the instrument, and
    AnonymizationError when the responses are fewer than k.
    `minimum_levels` (QI slug → level) starts the search higher than level 0,
    e.g. when the joint audit against a wave's published tables asks for a
    coarser release (a level above a QI's top is its top).
    """
    validate_thresholds(k=k, k_sensitive=k_lived)
    if not 0 <= max_suppressed_share <= MAX_SUPPRESSED_SHARE:
        raise ValueError(f"max_suppressed_share must be between 0 and {MAX_SUPPRESSED_SHARE}")
    parsed = validate_hierarchies(hierarchies)
    not_answered = str(hierarchies["not_answered"])
    top_value = str(hierarchies["any"])
    suppressed_value = str(hierarchies["suppressed"])
    rows = len(responses)

    if SECTOR not in parsed:
        raise ValueError("the hierarchies need one for the sector")
    sector_hierarchy = parsed[SECTOR]
    sector_column = responses[SECTOR] if SECTOR in responses.columns else pd.Series([None] * rows)
    sector_sensitive = sector_hierarchy.sensitive if sensitive_sectors is None else frozenset(sensitive_sectors)
    coded = [
        _code(sector_hierarchy, _sectors(sector_column, sector_hierarchy, not_answered=not_answered), sector_sensitive)
    ]
    sensitive_dimensions: set[int] = set()
    for dimension in dimensions(instrument):
        if dimension.slug == SECTOR:
            raise ValueError("no dimension may use the slug 'sector'")
        hierarchy = parsed.get(dimension.slug)
        patterns = pattern_values(dimension, not_answered=not_answered)
        if hierarchy is None:
            hierarchy = _generic_hierarchy(dimension, not_answered=not_answered, top_value=top_value)
        elif not set(patterns) <= set(hierarchy.domains[0]):
            raise ValueError(
                f"{dimension.slug}: the hierarchy does not cover {sorted(set(patterns) - set(hierarchy.domains[0]))}"
            )
        column = responses[dimension.slug] if dimension.slug in responses.columns else pd.Series([None] * rows)
        base = _answer_patterns(column.to_numpy(dtype=object), dimension, not_answered=not_answered)
        if dimension.is_sensitive:
            sensitive_dimensions.add(len(coded))
        coded.append(_code(hierarchy, base, hierarchy.sensitive))

    slugs = [item.hierarchy.slug for item in coded]
    rank = _tie_rank(slugs, [str(slug) for slug in hierarchies["tie_order"]])
    budget = math.floor(round(rows * max_suppressed_share, 9))
    search = _Search(
        coded,
        sensitive_dimensions=frozenset(sensitive_dimensions),
        k=k,
        k_lived=k_lived,
        budget=budget,
        rows=rows,
    )
    levels = [
        min(max(0, int((minimum_levels or {}).get(item.hierarchy.slug, 0))), item.hierarchy.top) for item in coded
    ]
    steps: list[dict[str, Any]] = []
    while (suppressed := search.suppression(levels)) is None:
        candidates: list[tuple[int, bool, int, int, int]] = []
        for index, item in enumerate(coded):
            if levels[index] < item.hierarchy.top:
                trial = list(levels)
                trial[index] += 1
                small = int(np.count_nonzero(search.small_rows(trial)))
                drops = trial[index] == item.hierarchy.top
                candidates.append((small, drops, trial[index], rank[item.hierarchy.slug], index))
        if not candidates:
            raise AnonymizationError(f"{rows} responses cannot form a class of at least {search.required_k(levels)}")
        *_, chosen = min(candidates)
        levels[chosen] += 1
        hierarchy = coded[chosen].hierarchy
        steps.append(
            {
                "quasi_identifier": hierarchy.slug,
                "level": levels[chosen],
                "level_name": hierarchy.level_names[levels[chosen]],
            }
        )

    return _result(
        coded=coded,
        levels=levels,
        suppressed=suppressed,
        search=search,
        steps=steps,
        responses_index=responses.index,
        suppressed_value=suppressed_value,
        max_suppressed_share=max_suppressed_share,
    )


def _result(
    *,
    coded: Sequence[_Coded],
    levels: Sequence[int],
    suppressed: BoolArray,
    search: _Search,
    steps: list[dict[str, Any]],
    responses_index: pd.Index,
    suppressed_value: str,
    max_suppressed_share: float,
) -> Anonymization:
    columns: dict[str, pd.Categorical] = {}
    kept: list[int] = []
    for index, (item, level) in enumerate(zip(coded, levels, strict=True)):
        domain = item.domains[level]
        categories = [*domain, suppressed_value]
        codes = np.where(suppressed, len(domain), item.codes[level])
        columns[item.hierarchy.slug] = pd.Categorical.from_codes(codes, categories=categories)
        if level < item.hierarchy.top:
            kept.append(index)
    frame = pd.DataFrame(columns, index=responses_index)

    kept_columns = [coded[index].codes[levels[index]] for index in kept]
    kept_sizes = [len(coded[index].domains[levels[index]]) for index in kept]
    inverse, _ = _class_ids(kept_columns, kept_sizes, len(suppressed))
    distinct, first_rows, class_of_row = np.unique(
        np.where(suppressed, -1, inverse), return_index=True, return_inverse=True
    )
    labels: list[str] = []
    for class_id, first in zip(distinct.tolist(), first_rows.tolist(), strict=True):
        if class_id < 0:
            labels.append(SUPPRESSED_CLASS)
            continue
        values = [
            (coded[index].hierarchy.slug, coded[index].domains[levels[index]][coded[index].codes[levels[index]][first]])
            for index in kept
        ]
        labels.append(_class_label(values))
    if suppressed.any():
        # The suppressed class (-1) sorts first; it is listed last.
        class_of_row = np.where(class_of_row == 0, len(labels) - 1, class_of_row - 1)
        labels = labels[1:] + labels[:1]

    slugs = [item.hierarchy.slug for item in coded]
    dropped = tuple(slugs[index] for index in range(len(coded)) if index not in kept)
    sensitive_values = {
        item.hierarchy.slug: tuple(value for value in item.domains[0] if bool(_domain_sensitive(item, value)))
        for item, level in zip(coded, levels, strict=True)
        if level == 0 and item.sensitive_rows.any()
    }
    k_used = search.required_k(levels)
    suppressed_rows = int(np.count_nonzero(suppressed))
    report: dict[str, Any] = {
        "k": k_used,
        "k_sensitive": search.k_lived,
        "sensitive_dimensions_kept": [slugs[index] for index in sorted(search.sensitive_dimensions) if index in kept],
        "sensitive_values": {slug: list(values) for slug, values in sensitive_values.items()},
        "rows": len(suppressed),
        "classes": len(labels),
        "max_suppressed_share": max_suppressed_share,
        "rows_suppressed": suppressed_rows,
        "values_suppressed": suppressed_rows * len(kept),
        "quasi_identifiers": [
            {
                "slug": item.hierarchy.slug,
                "level": level,
                "levels": item.hierarchy.top + 1,
                "level_name": item.hierarchy.level_names[level],
                "generalized": level > 0,
                "dropped": level == item.hierarchy.top,
                "generic_hierarchy": item.hierarchy.is_generic,
            }
            for item, level in zip(coded, levels, strict=True)
        ],
        "steps": steps,
        "dropped": list(dropped),
    }
    return Anonymization(
        quasi_identifiers=frame,
        levels={item.hierarchy.slug: level for item, level in zip(coded, levels, strict=True)},
        level_names={
            item.hierarchy.slug: item.hierarchy.level_names[level] for item, level in zip(coded, levels, strict=True)
        },
        suppressed=suppressed,
        dropped=dropped,
        k=k_used,
        k_sensitive=search.k_lived,
        sensitive_values=sensitive_values,
        class_labels=tuple(labels),
        class_of_row=class_of_row.astype(np.int64).reshape(len(suppressed)),
        report=report,
    )


def _domain_sensitive(item: _Coded, value: str) -> bool:
    """Return whether rows with the level-0 `value` are sensitive (present in the wave)."""
    position = item.domains[0].index(value)
    return bool(item.sensitive_rows[item.codes[0] == position].any())
