"""Neutralise CSV cells that a spreadsheet would run as a formula (CSV or formula injection).

The one rule for every CSV the product writes (OWASP, "CSV Injection"): a
text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return
gets a single quote in front, so that Excel, LibreOffice and Google Sheets
show it as text instead of evaluating it. Sector names, coalition names,
wave labels and instrument texts are typed by people, and a name such as
`=HYPERLINK("http://…","Open")` would otherwise become a live link, or
worse, in the spreadsheet of whoever opens the download.

Numbers stay numbers: numeric values, and text that is a plain decimal
literal such as `-9` (a missing code), `-0.25` or `+3`, are left exactly as
they are; only other text is changed.

`SafeWriter` is the csv.writer to use: it neutralises every cell and
quotes every field of a row that holds a line break (see its docstring).

Pure: the standard library and pandas, nothing from Django.
"""

import csv
import re
from collections.abc import Iterable
from numbers import Number
from typing import Any, Protocol

import pandas as pd

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def neutralise_cell(value: Any) -> Any:
    """Return `value` fit for a CSV cell: text that a spreadsheet would evaluate gets a leading quote.

    None, booleans and numbers (int, float, Decimal, numpy scalars) are
    returned unchanged, and so is text that is a plain number ("-9",
    "-0.25", "+3", "1e5"). Any other value is handled as the text that the
    csv module would write for it (`str(value)`).
    """
    if value is None or isinstance(value, (bool, Number)):
        return value
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_TRIGGERS) and not _NUMBER.fullmatch(text):
        return ESCAPE + text
    return text


def neutralise_row(row: Iterable[Any]) -> list[Any]:
    """Return one csv.writer row with every cell neutralised."""
    return [neutralise_cell(value) for value in row]


class _TextSink(Protocol):
    def write(self, text: str, /) -> object: ...


class SafeWriter:
    """A csv.writer that neutralises every cell and quotes every field of a row holding a line break.

    Python 3.11's csv module quotes a carriage return only when the line
    terminator contains one: with "\\n", a cell "x\\r=cmd" is written bare,
    and a spreadsheet that ends rows at a CR reads a new row starting with a
    formula. A row with a CR or LF in any cell is therefore written with
    every field quoted; other rows are written as csv.writer writes them.
    """

    def __init__(self, handle: _TextSink, *, lineterminator: str = "\r\n") -> None:
        self._minimal = csv.writer(handle, lineterminator=lineterminator)
        self._quoted = csv.writer(handle, lineterminator=lineterminator, quoting=csv.QUOTE_ALL)

    def writerow(self, row: Iterable[Any]) -> None:
        cells = neutralise_row(row)
        has_line_break = any(isinstance(cell, str) and ("\r" in cell or "\n" in cell) for cell in cells)
        (self._quoted if has_line_break else self._minimal).writerow(cells)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def _label(value: Any) -> Any:
    return neutralise_cell(value) if isinstance(value, str) else value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of `frame` for `to_csv`: text cells, column labels and index labels neutralised.

    Numeric, boolean and date columns are copied as they are; in other
    columns only the text values change.
    """
    result = frame.rename(columns=_label, index=_label)
    for position in range(result.shape[1]):
        column = result.iloc[:, position]
        if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_datetime64_any_dtype(column.dtype):
            continue
        result.isetitem(position, column.astype(object).map(_label))
    return result


__all__ = ["ESCAPE", "FORMULA_TRIGGERS", "SafeWriter", "neutralise_cell", "neutralise_frame", "neutralise_row"]
