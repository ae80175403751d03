"""Validators for the names and labels that people type and others read: one line, no control characters.

Coalition names, wave labels, sector names and instrument texts end up in
page titles, CSV cells, e-mail subjects and file headers. A carriage return
or line feed in one can start a new CSV row or header line, and invisible
format characters (Unicode category Cf, such as U+202E, which reverses the
text after it) can make a name read as something else. So every character
in the Unicode categories Cc (controls, tab and line breaks included), Cf
(format), Zl (line separator) and Zp (paragraph separator) is refused, but
for the zero-width non-joiner and joiner (U+200C, U+200D), which names in
Persian and Indic scripts need. The
only exception is `validate_paragraph`, which allows plain line feeds in
the few instrument texts that may run over several lines.
"""

import unicodedata
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# Zero-width non-joiner and joiner: format characters that Persian, Indic scripts and emoji need in names.
ALLOWED_FORMAT_CHARACTERS = frozenset({"\u200c", "\u200d"})

SINGLE_LINE_MESSAGE = _(
    "Write this on one line, without line breaks, tabs or invisible control characters (found %(character)s)."
)
PARAGRAPH_MESSAGE = _(
    "Write this without carriage returns, tabs or invisible control characters; "
    "plain line breaks are allowed (found %(character)s)."
)
NAME_MESSAGE = _(
    "The name in “%(language)s”: write it on one line, without line breaks, tabs or invisible control "
    "characters (found %(character)s)."
)
NAMES_SHAPE_MESSAGE = _('Give one name per language as text, for example {"en": "Health", "es": "Salud"}.')


def refused_character(text: str, *, allow_line_feed: bool = False) -> str | None:
    """Return the first character of `text` that a one-line text may not hold, as "U+000D"; None if none."""
    for character in text:
        if (character == "\n" and allow_line_feed) or character in ALLOWED_FORMAT_CHARACTERS:
            continue
        if unicodedata.category(character) in REFUSED_CATEGORIES:
            return f"U+{ord(character):04X}"
    return None


def validate_single_line(value: Any) -> None:
    """Refuse text holding a line break, a tab or any other control or format character."""
    if not isinstance(value, str):
        return  # the field's own validation reports a value that is not text
    character = refused_character(value)
    if character is not None:
        raise ValidationError(SINGLE_LINE_MESSAGE, code="single_line", params={"character": character})


def validate_paragraph(value: Any) -> None:
    """Refuse text holding a control or format character other than a plain line feed."""
    if not isinstance(value, str):
        return
    character = refused_character(value, allow_line_feed=True)
    if character is not None:
        raise ValidationError(PARAGRAPH_MESSAGE, code="paragraph", params={"character": character})


def validate_single_line_names(value: Any) -> None:
    """Refuse a per-language name object ({"en": "…", "es": "…"}) unless every name is one clean line."""
    if not isinstance(value, dict) or not all(
        isinstance(language, str) and isinstance(text, str) for language, text in value.items()
    ):
        raise ValidationError(NAMES_SHAPE_MESSAGE, code="names_shape")
    errors = []
    for language, text in value.items():
        character = refused_character(language) or refused_character(text)
        if character is not None:
            # A key with a control character is shown escaped, so the message itself stays one line.
            shown = language if refused_character(language) is None else ascii(language)
            errors.append(
                ValidationError(NAME_MESSAGE, code="single_line", params={"language": shown, "character": character})
            )
    if errors:
        raise ValidationError(errors)
