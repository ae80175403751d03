"""Instrument files: validation against the JSON Schema and the semantic rules.

An instrument is data (docs/instrument-format.md). `InstrumentSpec` wraps a
validated definition with the look-ups the survey pages, the answer validator
and the analytics engine need.
"""

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from surveys.validators import PARAGRAPH_MESSAGE, SINGLE_LINE_MESSAGE, refused_character

SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "instrument.schema.json"
DEFAULT_INSTRUMENT_PATH = Path(__file__).resolve().parent / "data" / "instruments" / "default.json"
PREFER_NOT_TO_SAY = "prefer-not-to-say"
NOT_APPLICABLE = "na"
NO_RELATIONSHIP = "none"
PAIR_PREFIX = "pair:"
RESERVED_SLUGS = frozenset({"sector", "language"})
MEBIBYTE = 1024 * 1024
# Limits checked before anything else looks at a file: the default instrument is about 60 KiB, 8 levels deep.
MAXIMUM_FILE_BYTES = 2 * MEBIBYTE
MAXIMUM_DEPTH = 20
# The text objects that may run over several lines (plain line feeds only): introductions.
PARAGRAPH_KEYS = frozenset({"intro"})
TOP_LEVEL_PARAGRAPH_KEYS = frozenset({"description"})


def localized_text(texts: dict[str, str], language: str) -> str:
    """Return the text for `language`, falling back to English, then to any language."""
    if not texts:
        return ""
    return texts.get(language) or texts.get("en") or next(iter(texts.values()))


class InstrumentError(ValueError):
    """An instrument file that is not valid; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@cache
def _schema_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _too_large(size: int) -> str:
    return _(
        "The instrument file is too large: %(size)s bytes; at most %(limit)s bytes (%(mebibytes)s MiB) are allowed."
    ) % {
        "size": number_format(size, force_grouping=True),
        "limit": number_format(MAXIMUM_FILE_BYTES, force_grouping=True),
        "mebibytes": MAXIMUM_FILE_BYTES // MEBIBYTE,
    }


def _too_deep() -> str:
    return _(
        "The instrument file is nested too deeply: lists and objects may be nested at most %(limit)s levels deep."
    ) % {"limit": MAXIMUM_DEPTH}


def instrument_parse(content: bytes | str) -> Any:
    """Return the JSON value of an instrument file; InstrumentError if it is too large or not JSON.

    The size is checked before parsing, and a file nested so deeply that the
    parser runs out of stack is reported as too deep, not as a RecursionError.
    The depth limit itself is checked by `instrument_validate`.
    """
    size = len(content.encode("utf-8")) if isinstance(content, str) else len(content)
    if size > MAXIMUM_FILE_BYTES:
        raise InstrumentError([_too_large(size)])
    try:
        return json.loads(content)
    except RecursionError:
        raise InstrumentError([_too_deep()]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InstrumentError([_("The instrument file is not valid JSON: %(error)s.") % {"error": error}]) from None


def instrument_read(path: Path) -> Any:
    """Read and parse the instrument file at `path`, never reading more than the size limit allows.

    Raise OSError if it cannot be read and InstrumentError as `instrument_parse` does.
    """
    with path.open("rb") as handle:
        content = handle.read(MAXIMUM_FILE_BYTES + 1)
        if len(content) > MAXIMUM_FILE_BYTES:
            raise InstrumentError([_too_large(max(len(content), os.fstat(handle.fileno()).st_size))])
    return instrument_parse(content)


def _is_too_deep(node: Any) -> bool:
    """Return whether lists and objects nest more than MAXIMUM_DEPTH levels (iteratively: no recursion)."""
    stack = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > MAXIMUM_DEPTH:
            return True
        children = current.values() if isinstance(current, dict) else current
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _displayed_strings(definition: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """Yield (path, text, may it hold line feeds) for every string of a definition that passed the schema."""
    stack: list[tuple[Any, str, bool]] = [(definition, "$", False)]
    while stack:
        node, path, is_paragraph = stack.pop()
        if isinstance(node, str):
            yield path, node, is_paragraph
        elif isinstance(node, dict):
            for key, value in reversed(node.items()):
                paragraph = is_paragraph or key in PARAGRAPH_KEYS or (path == "$" and key in TOP_LEVEL_PARAGRAPH_KEYS)
                stack.append((value, f"{path}.{key}", paragraph))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{index}]", is_paragraph) for index, value in reversed(list(enumerate(node))))


def definition_checksum(definition: dict[str, Any]) -> str:
    """Return a SHA-256 of the definition's canonical JSON form."""
    canonical = json.dumps(definition, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _texts(node: Any, path: str) -> list[tuple[str, dict[str, str]]]:
    """Collect every language-keyed text object under `node` with its path."""
    text_keys = {
        "title",
        "description",
        "name",
        "practice",
        "intro",
        "text",
        "help",
        "label",
        "na_label",
        "none_label",
    }
    found: list[tuple[str, dict[str, str]]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in text_keys and isinstance(value, dict):
                found.append((f"{path}.{key}", value))
            else:
                found.extend(_texts(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_texts(value, f"{path}[{index}]"))
    return found


def instrument_validate(definition: Any) -> list[str]:
    """Return every problem with `definition`; an empty list means it is valid."""
    if isinstance(definition, (dict, list)) and _is_too_deep(definition):
        return [_too_deep()]  # before the schema and the checks below, which recurse
    schema_problems = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in sorted(_schema_validator().iter_errors(definition), key=str)
    ]
    if schema_problems:
        return schema_problems

    problems: list[str] = []
    languages = definition["languages"]
    for path, texts in _texts(definition, "$"):
        missing = [language for language in languages if language not in texts]
        if missing:
            problems.append(f"{path}: missing language(s) {', '.join(missing)}")
    # Texts reach page titles, CSV cells and e-mails: one line without control characters, except introductions.
    for path, text, is_paragraph in _displayed_strings(definition):
        character = refused_character(text, allow_line_feed=is_paragraph)
        if character is not None:
            message = PARAGRAPH_MESSAGE if is_paragraph else SINGLE_LINE_MESSAGE
            problems.append(f"{path}: {message % {'character': character}}")

    scales = definition["scales"]
    for slug, scale in scales.items():
        for language in languages:
            labels = scale["labels"].get(language)
            if labels is None:
                problems.append(f"scale {slug}: no labels in {language}")
            elif len(labels) != scale["points"]:
                problems.append(f"scale {slug}: {len(labels)} labels in {language} for {scale['points']} points")

    area_slugs = [area["slug"] for area in definition["areas"]]
    if len(set(area_slugs)) != len(area_slugs):
        problems.append("areas: duplicate area slug")

    seen: set[str] = set()
    areas_with_scale_items: set[str] = set()
    pair_matrices = 0
    for section in definition["sections"]:
        for item in section["items"]:
            slug = item["slug"]
            if slug in seen:
                problems.append(f"item {slug}: slug used twice")
            if slug in RESERVED_SLUGS:
                problems.append(f"item {slug}: slug is reserved")
            seen.add(slug)
            area = item.get("area")
            if area is not None and area not in area_slugs:
                problems.append(f"item {slug}: unknown area {area}")
            if item["type"] in ("scale", "pair_matrix") and item["scale"] not in scales:
                problems.append(f"item {slug}: unknown scale {item['scale']}")
            if item["type"] == "scale" and area is not None:
                areas_with_scale_items.add(area)
            if item["type"] == "pair_matrix":
                pair_matrices += 1
            if item["type"] in ("single", "multiple"):
                option_count = len(area_slugs) if "options_from" in item else len(item.get("options", []))
                if item.get("max_choices", 0) > option_count:
                    problems.append(f"item {slug}: max_choices exceeds the number of options")
                option_slugs = [option["slug"] for option in item.get("options", [])]
                if len(set(option_slugs)) != len(option_slugs):
                    problems.append(f"item {slug}: duplicate option slug")
    if pair_matrices > 1:
        problems.append("sections: more than one pair_matrix item")
    for area in area_slugs:
        if area not in areas_with_scale_items:
            problems.append(f"area {area}: no scale item measures it")

    for dimension in definition["dimensions"]:
        slug = dimension["slug"]
        if slug in seen:
            problems.append(f"dimension {slug}: slug used twice")
        if slug in RESERVED_SLUGS:
            problems.append(f"dimension {slug}: slug is reserved")
        seen.add(slug)
        option_slugs = [option["slug"] for option in dimension["options"]]
        if len(set(option_slugs)) != len(option_slugs):
            problems.append(f"dimension {slug}: duplicate option slug")
        if option_slugs[-1] != PREFER_NOT_TO_SAY:
            problems.append(f'dimension {slug}: the last option must be "{PREFER_NOT_TO_SAY}"')
        for option in dimension.get("sensitive_options", []):
            if option not in option_slugs:
                problems.append(f"dimension {slug}: unknown sensitive option {option}")
    return problems


@dataclass(frozen=True)
class Question:
    """One answerable question of an instrument: an item or a dimension."""

    slug: str
    type: str  # scale | single | multiple | pair_matrix | text
    definition: dict[str, Any]
    section: str
    points: int = 0
    option_slugs: tuple[str, ...] = ()
    max_choices: int | None = None
    is_dimension: bool = False
    is_enabled: bool = True


@dataclass(frozen=True)
class InstrumentSpec:
    """A validated instrument definition with look-ups by slug."""

    definition: dict[str, Any]
    questions: dict[str, Question] = field(default_factory=dict)

    @classmethod
    def from_definition(cls, definition: dict[str, Any]) -> "InstrumentSpec":
        scales = definition["scales"]
        area_slugs = tuple(area["slug"] for area in definition["areas"])
        questions: dict[str, Question] = {}
        for section in definition["sections"]:
            for item in section["items"]:
                kind = item["type"]
                points = scales[item["scale"]]["points"] if "scale" in item else 0
                if "options_from" in item:
                    options = area_slugs
                else:
                    options = tuple(option["slug"] for option in item.get("options", []))
                questions[item["slug"]] = Question(
                    slug=item["slug"],
                    type=kind,
                    definition=item,
                    section=section["slug"],
                    points=points,
                    option_slugs=options,
                    max_choices=item.get("max_choices"),
                    is_enabled=item.get("enabled", kind != "text"),
                )
        for dimension in definition["dimensions"]:
            questions[dimension["slug"]] = Question(
                slug=dimension["slug"],
                type="multiple" if dimension["multiple"] else "single",
                definition=dimension,
                section="about-you",
                option_slugs=tuple(option["slug"] for option in dimension["options"]),
                is_dimension=True,
            )
        return cls(definition=definition, questions=questions)

    @property
    def languages(self) -> list[str]:
        return list(self.definition["languages"])

    @property
    def areas(self) -> list[dict[str, Any]]:
        return list(self.definition["areas"])

    @property
    def dimensions(self) -> list[dict[str, Any]]:
        return list(self.definition["dimensions"])

    @property
    def pair_matrix(self) -> Question | None:
        return next((q for q in self.questions.values() if q.type == "pair_matrix"), None)

    def scale(self, slug: str) -> dict[str, Any]:
        return dict(self.definition["scales"][slug])

    def sections(self, *, include_free_text: bool = False) -> list[dict[str, Any]]:
        """Return the sections to show, without disabled items or emptied sections."""
        shown = []
        for section in self.definition["sections"]:
            items = [
                item
                for item in section["items"]
                if self.questions[item["slug"]].is_enabled and (item["type"] != "text" or include_free_text)
            ]
            if items:
                shown.append({**section, "items": items})
        return shown
