"""The one CSV formula-injection rule (config/csv_safety.py): text that a spreadsheet would run gets a quote."""

import csv
import io
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from config.csv_safety import SafeWriter, neutralise_cell, neutralise_frame, neutralise_row

PAYLOADS = [
    pytest.param('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")', id="equals"),
    pytest.param("+1+1", "'+1+1", id="plus"),
    pytest.param("-1+2", "'-1+2", id="minus"),
    pytest.param("@SUM(A1)", "'@SUM(A1)", id="at"),
    pytest.param("\tx", "'\tx", id="tab"),
    pytest.param("\rx", "'\rx", id="carriage-return"),
    pytest.param("-", "'-", id="lone-minus"),
    pytest.param("-inf", "'-inf", id="minus-inf"),
    pytest.param("-9 ", "'-9 ", id="number-and-space"),
]


@pytest.mark.parametrize(("text", "expected"), PAYLOADS)
def test_text_that_a_spreadsheet_would_evaluate_gets_a_leading_quote(text: str, expected: str) -> None:
    assert neutralise_cell(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("-9", id="missing-code"),
        pytest.param("-0.25", id="negative-decimal"),
        pytest.param("+3", id="signed-integer"),
        pytest.param("-.5", id="no-leading-digit"),
        pytest.param("-1e5", id="exponent"),
        pytest.param("Victim services", id="plain-text"),
        pytest.param("a=b", id="equals-inside"),
        pytest.param(" =1+1", id="leading-space"),
        pytest.param("", id="empty"),
        pytest.param("—", id="hidden-marker"),
    ],
)
def test_numbers_written_as_text_and_harmless_text_are_unchanged(text: str) -> None:
    assert neutralise_cell(text) == text


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(-9, id="int"),
        pytest.param(-0.25, id="float"),
        pytest.param(Decimal("-2.50"), id="decimal"),
        pytest.param(np.int8(-7), id="numpy-int"),
        pytest.param(np.float64(-1.5), id="numpy-float"),
        pytest.param(True, id="bool"),
        pytest.param(None, id="none"),
    ],
)
def test_numbers_and_none_are_returned_as_they_are(value: Any) -> None:
    assert neutralise_cell(value) is value


def test_other_objects_are_neutralised_as_the_text_csv_would_write() -> None:
    class Name:
        def __str__(self) -> str:
            return "=1+1"

    assert neutralise_cell(Name()) == "'=1+1"


def test_a_row_keeps_numbers_and_quotes_formulas() -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    writer.writerow(neutralise_row(["=cmd|' /C calc'!A0", -9, "-9", None, "@x", 2.5, "\tx"]))

    assert buffer.getvalue() == "'=cmd|' /C calc'!A0,-9,-9,,'@x,2.5,'\tx\n"


def test_the_safe_writer_writes_plain_rows_as_csv_writer_does() -> None:
    buffer = io.StringIO()

    SafeWriter(buffer, lineterminator="\n").writerows([["area", "mean", "n"], ["=1+1", -0.25, "-9"], ["a,b", "", None]])

    assert buffer.getvalue() == 'area,mean,n\n\'=1+1,-0.25,-9\n"a,b",,\n'


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        pytest.param("\rx", '"\'\rx","-9"\n', id="leading-carriage-return"),
        pytest.param("x\r=cmd", '"x\r=cmd","-9"\n', id="carriage-return-inside"),
        pytest.param("x\n=cmd", '"x\n=cmd","-9"\n', id="line-feed-inside"),
    ],
)
def test_the_safe_writer_quotes_every_field_of_a_row_holding_a_line_break(cell: str, expected: str) -> None:
    # csv.writer leaves a bare CR unquoted when the line terminator is "\n": a spreadsheet would start a row there.
    buffer = io.StringIO()

    SafeWriter(buffer, lineterminator="\n").writerow([cell, -9])

    assert buffer.getvalue() == expected
    assert next(csv.reader(io.StringIO(buffer.getvalue(), newline=""))) == [cell if cell[0] != "\r" else "'\rx", "-9"]


def test_a_frame_has_its_text_cells_and_labels_neutralised_and_its_numbers_kept() -> None:
    frame = pd.DataFrame(
        {
            "=label": ["=HYPERLINK(1)", "-9", "+1+1"],
            "code": np.array([-9, -8, 1], dtype=np.int16),
            "score": [-0.25, 1.5, np.nan],
            "group": pd.Categorical(["@a", "b", "@a"]),
        },
        index=["+row", "b", "c"],
    )

    text = neutralise_frame(frame).to_csv(lineterminator="\n")

    assert text == (",'=label,code,score,group\n'+row,'=HYPERLINK(1),-9,-0.25,'@a\nb,-9,-8,1.5,b\nc,'+1+1,1,,'@a\n")
    assert list(frame.columns) == ["=label", "code", "score", "group"]  # the input is not changed
    assert frame["=label"].tolist() == ["=HYPERLINK(1)", "-9", "+1+1"]
