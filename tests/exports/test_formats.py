"""The export file writers (`exports.formats`): pure Python, no database.

One literal dataset of 12 responses: a quasi-identifier with a suppressed
value, a scale item with "don't know" and "not answered", a sector-pair
rating with four missing codes (declared as a range in SPSS) and a score
with NaN. Expected files are rebuilt independently from the literal rows and
the documented shuffle: for the formats in order csv, parquet, sav, dta, one
`rng.permutation(n)` each.
"""

import ast
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest
from frictionless import Package, validate
from frictionless.resources import TableResource

from config.csv_safety import neutralise_cell
from exports import formats
from exports.formats import Dataset, Variable, write_codebook, write_datapackage, write_microdata

SEED = 20261128
ROWS = 12
ORDER = ("csv", "parquet", "sav", "dta")
POWER_EN = (
    "Decisions about the coalition's shared work are made jointly by all member organizations, not by one lead agency."
)
POWER_ES = (
    "Las decisiones sobre el trabajo común de la coalición las toman conjuntamente todas las organizaciones"
    " miembro, no una agencia líder."
)
POWER_STATA = "Decisions about the coalition's shared work are made jointly by all member orga…"
AGREEMENT = {
    1: {"en": "Strongly disagree", "es": "Muy en desacuerdo"},
    2: {"en": "Disagree", "es": "En desacuerdo"},
    3: {"en": "Neither", "es": "Ni de acuerdo ni en desacuerdo"},
    4: {"en": "Agree", "es": "De acuerdo"},
    5: {"en": "Strongly agree", "es": "Muy de acuerdo"},
}
NOT_ANSWERED = {"en": "Not answered", "es": "Sin respuesta"}
DONT_KNOW = {"en": "Don't know", "es": "No sabe"}
SUPPRESSED = {"en": "Suppressed (disclosure control)", "es": "Suprimido (control de divulgación)"}
NO_RELATIONSHIP = {"en": "No working relationship", "es": "Sin relación de trabajo"}

SECTOR = Variable(
    name="sector",
    label={"en": "Sector", "es": "Sector"},
    kind="integer",
    value_labels={
        1: {"en": "Health", "es": "Salud"},
        2: {"en": "Police | courts", "es": "Policía | tribunales"},
        3: {"en": "Faith", "es": "Fe"},
    },
    missing={-9: NOT_ANSWERED, -7: SUPPRESSED},
    description={"en": "Generalized to at least 5 rows per combination.", "es": "Generalizado a 5 filas o más."},
    group={"en": "Quasi-identifiers", "es": "Cuasi-identificadores"},
)
POWER = Variable(
    name="power_joint",
    label={"en": POWER_EN, "es": POWER_ES},
    kind="integer",
    value_labels=AGREEMENT,
    missing={-9: NOT_ANSWERED, -8: DONT_KNOW},
    description={"en": "Area: power & decision-making.", "es": "Área: poder y toma de decisiones."},
    group={"en": "Items: Power & decision-making", "es": "Ítems: Poder y toma de decisiones"},
)
PAIR = Variable(
    name="pair_health",
    label={"en": "Working relationship with health", "es": "Relación de trabajo con salud"},
    kind="integer",
    value_labels=AGREEMENT,
    missing={-9: NOT_ANSWERED, -8: DONT_KNOW, -7: SUPPRESSED, -6: NO_RELATIONSHIP},
    group="Sector pairs",
)
SCORE = Variable(
    name="power_score",
    label={"en": "Power & decision-making score", "es": "Puntuación de poder y toma de decisiones"},
    kind="number",
    decimals=2,
    group={"en": "Scores", "es": "Puntuaciones"},
)
DATASET = Dataset(
    name="coalition-pulse-export-test",
    title={"en": "Coalition Pulse researcher export", "es": "Exportación para investigación de Coalition Pulse"},
    description={"en": "One row per response.", "es": "Una fila por respuesta."},
    variables=(SECTOR, POWER, PAIR, SCORE),
    notes={"en": "k = 5; 1 value suppressed.", "es": "k = 5; 1 valor suprimido."},
)

SECTORS = [1, 2, 3, -7, 1, 2, 3, -9, 1, 2, 1, 2]
POWERS = [1, 2, 3, 4, 5, -8, -9, 1, 2, 3, 4, 5]
PAIRS = [1, -6, 2, -7, 3, -8, 4, -9, 5, -6, 1, 2]
SCORES = [3.3333333, np.nan, 1.0, 4.6666667, 2.5, 5.0, np.nan, 1.25, 3.0, 2.0, 4.0, 1.5]
SCORES_ROUNDED = [3.33, None, 1.0, 4.67, 2.5, 5.0, None, 1.25, 3.0, 2.0, 4.0, 1.5]
SCORES_CSV = ["3.33", "", "1.00", "4.67", "2.50", "5.00", "", "1.25", "3.00", "2.00", "4.00", "1.50"]
ROW_LABEL = "Row number (random order, different in each file)"
NAMES = ["row", "sector", "power_joint", "pair_health", "power_score"]


def literal_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sector": np.array(SECTORS, dtype=np.int64),
            "power_joint": np.array(POWERS, dtype=np.int64),
            "pair_health": np.array(PAIRS, dtype=np.int64),
            "power_score": np.array(SCORES, dtype=np.float64),
        }
    )


def permutations(seed: int = SEED) -> dict[str, list[int]]:
    """Return each file's permutation, drawn as documented: one rng.permutation(n) per format, in order."""
    rng = np.random.default_rng(seed)
    return {file_format: rng.permutation(ROWS).tolist() for file_format in ORDER}


def expected_rows(permutation: list[int]) -> list[tuple[Any, ...]]:
    """Return the file's rows (row, sector, power_joint, pair_health, power_score or None) in file order."""
    return [
        (position + 1, SECTORS[index], POWERS[index], PAIRS[index], SCORES_ROUNDED[index])
        for position, index in enumerate(permutation)
    ]


def as_tuples(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    return [
        (int(row), int(sector), int(power), int(pair), None if pd.isna(score) else float(score))
        for row, sector, power, pair, score in frame[NAMES].itertuples(index=False)
    ]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def written(tmp_path: Path) -> dict[str, Path]:
    return write_microdata(DATASET, literal_frame(), tmp_path, rng=np.random.default_rng(SEED), chunk_rows=5)


# --- Microdata --------------------------------------------------------------


def test_writes_the_four_microdata_files(tmp_path: Path, written: dict[str, Path]) -> None:
    assert written == {
        "csv": tmp_path / "microdata.csv",
        "parquet": tmp_path / "microdata.parquet",
        "sav": tmp_path / "microdata.sav",
        "dta": tmp_path / "microdata.dta",
    }
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "microdata.csv",
        "microdata.dta",
        "microdata.parquet",
        "microdata.sav",
    ]


def test_each_file_has_its_own_permutation_and_fresh_row_numbers(written: dict[str, Path]) -> None:
    expected = permutations()
    assert len({tuple(permutation) for permutation in expected.values()}) == 4
    loaded = {
        "csv": pd.read_csv(written["csv"]),
        "parquet": pd.read_parquet(written["parquet"]),
        "sav": pyreadstat.read_sav(written["sav"], user_missing=True)[0],
        "dta": pyreadstat.read_dta(written["dta"])[0],
    }

    for file_format, frame in loaded.items():
        assert frame["row"].tolist() == list(range(1, ROWS + 1)), file_format
        assert as_tuples(frame) == expected_rows(expected[file_format]), file_format
    data_rows = {
        file_format: sorted(map(repr, (row[1:] for row in as_tuples(frame)))) for file_format, frame in loaded.items()
    }
    assert data_rows["csv"] == data_rows["parquet"] == data_rows["sav"] == data_rows["dta"]
    # With this seed, row 1 is a different response in each file: the numbers join nothing.
    assert len({permutation[0] for permutation in expected.values()}) == 4


def test_csv_text_is_exact(written: dict[str, Path]) -> None:
    permutation = permutations()["csv"]
    lines = ["row,sector,power_joint,pair_health,power_score"] + [
        f"{position + 1},{SECTORS[index]},{POWERS[index]},{PAIRS[index]},{SCORES_CSV[index]}"
        for position, index in enumerate(permutation)
    ]

    assert written["csv"].read_bytes() == ("\n".join(lines) + "\n").encode("utf-8")
    assert pd.read_csv(written["csv"]).dtypes.astype(str).to_dict() == {
        "row": "int64",
        "sector": "int64",
        "power_joint": "int64",
        "pair_health": "int64",
        "power_score": "float64",
    }


def test_csv_writes_numbers_with_their_decimals_rounded_half_to_even(tmp_path: Path) -> None:
    def number(name: str, decimals: int | None) -> Variable:
        return Variable(name, {"en": name, "es": name}, "number", decimals=decimals)

    dataset = replace(DATASET, variables=(number("change", 2), number("weight", None), number("whole", 0)))
    frame = pd.DataFrame(
        {
            "change": [-0.004, -0.5, -12.345678, 0.125, np.nan, 7.0],
            "weight": [0.1, 3.0, np.nan, -2.5, 1e-5, 123456.789],
            "whole": [-0.4, -0.6, 2.5, 3.5, 1e8, np.nan],
        }
    )
    change = ["0.00", "-0.50", "-12.35", "0.12", "", "7.00"]
    weight = ["0.1", "3", "", "-2.5", "0.00001", "123456.789"]
    whole = ["0", "-1", "2", "4", "100000000", ""]

    paths = write_microdata(dataset, frame, tmp_path, rng=np.random.default_rng(0))

    rng = np.random.default_rng(0)
    permutation, parquet_permutation = rng.permutation(6).tolist(), rng.permutation(6).tolist()
    lines = ["row,change,weight,whole"] + [
        f"{position + 1},{change[index]},{weight[index]},{whole[index]}" for position, index in enumerate(permutation)
    ]
    assert paths["csv"].read_text(encoding="utf-8") == "\n".join(lines) + "\n"
    stored = pq.read_table(paths["parquet"]).to_pydict()
    assert stored["whole"] == [[0.0, -1.0, 2.0, 4.0, 1e8, None][index] for index in parquet_permutation]


def test_csv_and_parquet_do_not_depend_on_the_chunk_size(tmp_path: Path) -> None:
    small, large = tmp_path / "small", tmp_path / "large"
    small.mkdir()
    large.mkdir()

    by_five = write_microdata(DATASET, literal_frame(), small, rng=np.random.default_rng(SEED), chunk_rows=5)
    whole = write_microdata(DATASET, literal_frame(), large, rng=np.random.default_rng(SEED))

    assert by_five["csv"].read_bytes() == whole["csv"].read_bytes()
    assert pq.ParquetFile(by_five["parquet"]).metadata.num_row_groups == 3
    assert [pq.ParquetFile(by_five["parquet"]).metadata.row_group(i).num_rows for i in range(3)] == [5, 5, 2]
    assert pq.ParquetFile(whole["parquet"]).metadata.num_row_groups == 1
    assert pq.read_table(by_five["parquet"]).equals(pq.read_table(whole["parquet"]))


def test_parquet_has_compact_types_labels_and_nulls(written: dict[str, Path]) -> None:
    table = pq.read_table(written["parquet"])

    assert [(f.name, str(f.type), f.nullable) for f in table.schema] == [
        ("row", "int8", False),
        ("sector", "int8", False),
        ("power_joint", "int8", False),
        ("pair_health", "int8", False),
        ("power_score", "double", True),
    ]
    assert table.schema.field("power_joint").metadata == {
        b"label": POWER_EN.encode(),
        b"kind": b"integer",
        b"value_labels": json.dumps({str(code): labels["en"] for code, labels in AGREEMENT.items()}).encode(),
        b"missing_codes": b'{"-9": "Not answered", "-8": "Don\'t know"}',
    }
    assert table.schema.field("power_score").metadata == {
        b"label": b"Power & decision-making score",
        b"kind": b"number",
        b"decimals": b"2",
    }
    assert table.schema.metadata == {
        b"name": b"coalition-pulse-export-test",
        b"title": b"Coalition Pulse researcher export",
    }
    permutation = permutations()["parquet"]
    assert table.column("power_score").to_pylist() == [SCORES_ROUNDED[index] for index in permutation]
    assert table.column("power_score").null_count == 2
    assert pd.read_parquet(written["parquet"]).dtypes.astype(str).tolist() == [
        "int8",
        "int8",
        "int8",
        "int8",
        "float64",
    ]


def test_spss_declares_labels_and_user_missing_codes(written: dict[str, Path]) -> None:
    frame, meta = pyreadstat.read_sav(written["sav"], user_missing=True)

    assert meta.column_names_to_labels == {
        "row": ROW_LABEL,
        "sector": "Sector",
        "power_joint": POWER_EN,  # under SPSS's 256 bytes: kept whole
        "pair_health": "Working relationship with health",
        "power_score": "Power & decision-making score",
    }
    assert meta.file_label == "Coalition Pulse researcher export"
    agreement = {float(code): labels["en"] for code, labels in AGREEMENT.items()}
    assert meta.variable_value_labels == {
        "sector": {
            -9.0: "Not answered",
            -7.0: "Suppressed (disclosure control)",
            1.0: "Health",
            2.0: "Police | courts",
            3.0: "Faith",
        },
        "power_joint": {-9.0: "Not answered", -8.0: "Don't know", **agreement},
        "pair_health": {
            -9.0: "Not answered",
            -8.0: "Don't know",
            -7.0: "Suppressed (disclosure control)",
            -6.0: "No working relationship",
            **agreement,
        },
    }
    assert meta.missing_ranges == {
        "sector": [{"lo": -9.0, "hi": -9.0}, {"lo": -7.0, "hi": -7.0}],
        "power_joint": [{"lo": -9.0, "hi": -9.0}, {"lo": -8.0, "hi": -8.0}],
        "pair_health": [{"lo": -9.0, "hi": -6.0}],  # four codes: SPSS takes at most three discrete values
    }
    assert meta.original_variable_types == {
        "row": "F2.0",
        "sector": "F2.0",
        "power_joint": "F2.0",
        "pair_health": "F2.0",
        "power_score": "F5.2",
    }
    assert frame.dtypes.astype(str).tolist() == ["float64"] * 5  # SPSS stores every number as a double
    assert int.from_bytes(written["sav"].read_bytes()[72:76], "little") == 1  # header: bytecode compression
    without_user_missing, _meta = pyreadstat.read_sav(written["sav"])
    permutation = permutations()["sav"]
    assert without_user_missing["power_joint"].isna().tolist() == [POWERS[index] < 0 for index in permutation]
    assert without_user_missing["pair_health"].isna().tolist() == [PAIRS[index] < 0 for index in permutation]


def test_stata_keeps_negative_codes_labelled_and_shortens_long_labels(written: dict[str, Path]) -> None:
    frame, meta = pyreadstat.read_dta(written["dta"])

    assert len(POWER_STATA) == 80
    assert meta.column_names_to_labels == {
        "row": ROW_LABEL,
        "sector": "Sector",
        "power_joint": POWER_STATA,
        "pair_health": "Working relationship with health",
        "power_score": "Power & decision-making score",
    }
    agreement = {code: labels["en"] for code, labels in AGREEMENT.items()}
    assert meta.variable_value_labels == {
        "sector": {
            -9: "Not answered",
            -7: "Suppressed (disclosure control)",
            1: "Health",
            2: "Police | courts",
            3: "Faith",
        },
        "power_joint": {-9: "Not answered", -8: "Don't know", **agreement},
        "pair_health": {
            -9: "Not answered",
            -8: "Don't know",
            -7: "Suppressed (disclosure control)",
            -6: "No working relationship",
            **agreement,
        },
    }
    assert meta.original_variable_types["power_score"] == "%9.2f"
    assert written["dta"].read_bytes().startswith(b"<stata_dta><header><release>118</release>")
    with pd.io.stata.StataReader(written["dta"]) as reader:
        assert reader.variable_labels()["power_joint"] == POWER_STATA
        assert reader.data_label == "Coalition Pulse researcher export"
        from_pandas = reader.read(convert_categoricals=False)
    assert as_tuples(from_pandas) == expected_rows(permutations()["dta"])
    assert frame["pair_health"].min() == -9  # Stata users recode with mvdecode


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            lambda dataset, frame: (dataset, frame.drop(columns="power_score").assign(extra=1)),
            "frame columns do not match the variables: missing ['power_score'], unexpected ['extra']",
            id="wrong-columns",
        ),
        pytest.param(
            lambda dataset, frame: (dataset, frame.assign(sector=frame["sector"].where(frame.index != 3))),
            "column 'sector' is an integer column but has NaN in 1 row(s);"
            " an integer column holds a negative missing code instead",
            id="nan-in-integer-column",
        ),
        pytest.param(
            lambda dataset, frame: (dataset, frame.assign(sector=frame["sector"].astype(float))),
            "column 'sector' is an integer column and needs an integer dtype, not float64",
            id="float-integer-column",
        ),
        pytest.param(
            lambda dataset, frame: (dataset, frame.assign(power_joint=frame["power_joint"].replace({5: 6, 4: -1}))),
            "column 'power_joint' has values that are neither valid codes nor missing codes: [-1, 6]",
            id="unlabelled-code",
        ),
        pytest.param(
            lambda dataset, frame: (dataset, frame.assign(power_score=np.arange(ROWS))),
            "column 'power_score' is a number column and needs a float dtype, not int64",
            id="integer-number-column",
        ),
        pytest.param(
            lambda dataset, frame: (dataset, frame.assign(power_score=frame["power_score"].replace(5.0, np.inf))),
            "column 'power_score' has infinite values",
            id="infinite-number",
        ),
        pytest.param(
            lambda dataset, frame: (replace(dataset, variables=(replace(SCORE, decimals=7),)), frame),
            "variable 'power_score': decimals must be an integer from 0 to 6, not 7",
            id="too-many-decimals",
        ),
        pytest.param(
            lambda dataset, frame: (
                replace(dataset, variables=(Variable("Power-Joint", POWER.label, "integer"),)),
                frame,
            ),
            "variable name 'Power-Joint' must start with a lowercase letter, hold only lowercase letters, digits"
            " and _, and have at most 32 characters",
            id="bad-name",
        ),
        pytest.param(
            lambda dataset, frame: (
                replace(dataset, variables=(Variable("a" * 33, POWER.label, "integer"),)),
                frame,
            ),
            f"variable name {'a' * 33!r} must start with a lowercase letter, hold only lowercase letters, digits"
            " and _, and have at most 32 characters",
            id="long-name",
        ),
        pytest.param(
            lambda dataset, frame: (
                replace(dataset, variables=(Variable("row", POWER.label, "integer"),)),
                frame,
            ),
            "variable name 'row' is reserved: write_microdata adds the row number column itself",
            id="reserved-name",
        ),
        pytest.param(
            lambda dataset, frame: (
                replace(dataset, variables=(Variable("sector", {"en": "Sector"}, "integer"),)),
                frame,
            ),
            "variable 'sector': label has no text for language(s) ['es']",
            id="untranslated-label",
        ),
    ],
)
def test_rejects_invalid_input_and_writes_nothing(tmp_path: Path, change: Any, message: str) -> None:
    dataset, frame = change(DATASET, literal_frame())

    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        write_microdata(dataset, frame, tmp_path, rng=np.random.default_rng(SEED))

    assert list(tmp_path.iterdir()) == []


def test_removes_the_files_written_so_far_when_a_writer_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        Path(args[1]).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(pyreadstat, "write_dta", fail)

    with pytest.raises(OSError, match="^disk full$"):
        write_microdata(DATASET, literal_frame(), tmp_path, rng=np.random.default_rng(SEED))

    assert list(tmp_path.iterdir()) == []


# --- datapackage.json -------------------------------------------------------


def categories(codes: Mapping[int, Mapping[str, str]], language: str) -> list[dict[str, Any]]:
    valid = sorted(code for code in codes if code >= 0)
    missing = sorted(code for code in codes if code < 0)
    return [{"label": codes[code][language], "value": code} for code in valid + missing]


def test_datapackage_describes_every_file_and_column(tmp_path: Path, written: dict[str, Path]) -> None:
    path = write_datapackage(DATASET, tmp_path, files=written, extra={"x-disclosure": {"k": 5}})

    def resource(file_format: str, name: str, mediatype: str, profile: str) -> dict[str, Any]:
        file = written[file_format]
        return {
            "bytes": file.stat().st_size,
            "format": file_format,
            "hash": f"sha256:{sha256(file)}",
            "mediatype": mediatype,
            "name": name,
            "path": file.name,
            "profile": profile,
        }

    sector_codes = {**SECTOR.value_labels, **SECTOR.missing}
    power_codes = {**AGREEMENT, **POWER.missing}
    pair_codes = {**AGREEMENT, **PAIR.missing}
    expected_fields = [
        {
            "constraints": {"minimum": 1, "required": True, "unique": True},
            "description": "Numbers the rows 1 to N in this file's random order; it identifies nothing else.",
            "name": "row",
            "title": ROW_LABEL,
            "type": "integer",
            "x-group": "Row number",
            "x-labels": {
                "es": {
                    "description": (
                        "Numera las filas de 1 a N en el orden aleatorio de este archivo; no identifica nada más."
                    ),
                    "group": "Número de fila",
                    "title": "Número de fila (orden aleatorio, distinto en cada archivo)",
                }
            },
        },
        {
            "categories": categories(sector_codes, "en"),
            "constraints": {"enum": [1, 2, 3, -9, -7]},
            "description": "Generalized to at least 5 rows per combination.",
            "missingValues": ["-9", "-7"],
            "name": "sector",
            "title": "Sector",
            "type": "integer",
            "x-group": "Quasi-identifiers",
            "x-labels": {
                "es": {
                    "categories": categories(sector_codes, "es"),
                    "description": "Generalizado a 5 filas o más.",
                    "group": "Cuasi-identificadores",
                    "title": "Sector",
                }
            },
        },
        {
            "categories": categories(power_codes, "en"),
            "constraints": {"enum": [1, 2, 3, 4, 5, -9, -8]},
            "description": "Area: power & decision-making.",
            "missingValues": ["-9", "-8"],
            "name": "power_joint",
            "title": POWER_EN,
            "type": "integer",
            "x-group": "Items: Power & decision-making",
            "x-labels": {
                "es": {
                    "categories": categories(power_codes, "es"),
                    "description": "Área: poder y toma de decisiones.",
                    "group": "Ítems: Poder y toma de decisiones",
                    "title": POWER_ES,
                }
            },
        },
        {
            "categories": categories(pair_codes, "en"),
            "constraints": {"enum": [1, 2, 3, 4, 5, -9, -8, -7, -6]},
            "missingValues": ["-9", "-8", "-7", "-6"],
            "name": "pair_health",
            "title": "Working relationship with health",
            "type": "integer",
            "x-group": "Sector pairs",
            "x-labels": {"es": {"categories": categories(pair_codes, "es"), "title": "Relación de trabajo con salud"}},
        },
        {
            "name": "power_score",
            "title": "Power & decision-making score",
            "type": "number",
            "x-decimals": 2,
            "x-group": "Scores",
            "x-labels": {"es": {"group": "Puntuaciones", "title": "Puntuación de poder y toma de decisiones"}},
        },
    ]
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "description": "One row per response.",
        "name": "coalition-pulse-export-test",
        "profile": "data-package",
        "resources": [
            {
                **resource("csv", "microdata", "text/csv", "tabular-data-resource"),
                "dialect": {"delimiter": ",", "header": True, "lineTerminator": "\n"},
                "encoding": "utf-8",
                "schema": {"fields": expected_fields, "missingValues": [""]},
            },
            resource("parquet", "microdata-parquet", "application/vnd.apache.parquet", "data-resource"),
            resource("sav", "microdata-sav", "application/x-spss-sav", "data-resource"),
            resource("dta", "microdata-dta", "application/x-stata-dta", "data-resource"),
        ],
        "title": "Coalition Pulse researcher export",
        "x-disclosure": {"k": 5},
        "x-labels": {
            "es": {
                "description": "Una fila por respuesta.",
                "title": "Exportación para investigación de Coalition Pulse",
            }
        },
    }
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert "Policía | tribunales" in text  # UTF-8, not \u escapes


def test_datapackage_is_valid_frictionless_and_the_csv_matches_its_schema(
    tmp_path: Path, written: dict[str, Path]
) -> None:
    path = write_datapackage(DATASET, tmp_path, files=written)

    package = Package(str(path))  # raises FrictionlessException on an invalid descriptor
    resource = package.get_resource("microdata")
    report = validate(resource)  # reads the data: hash, bytes, types, enum, unique

    assert report.valid, report.flatten(["type", "message"])
    assert isinstance(resource, TableResource)
    rows = resource.read_rows()
    permutation = permutations()["csv"]
    assert [(row["row"], row["sector"], row["pair_health"]) for row in rows] == [
        (position + 1, None if SECTORS[index] < 0 else SECTORS[index], None if PAIRS[index] < 0 else PAIRS[index])
        for position, index in enumerate(permutation)
    ]


def test_frictionless_catches_a_tampered_csv(tmp_path: Path, written: dict[str, Path]) -> None:
    path = write_datapackage(DATASET, tmp_path, files=written)
    with written["csv"].open("a", encoding="utf-8") as handle:
        handle.write("13,1,6,1,1.00\n")

    report = validate(Package(str(path)).get_resource("microdata"))

    assert sorted({error_type for (error_type,) in report.flatten(["type"])}) == [
        "byte-count",
        "constraint-error",
        "hash-count",
    ]


def test_datapackage_lists_other_files_and_refuses_to_replace_its_own_keys(
    tmp_path: Path, written: dict[str, Path]
) -> None:
    (tmp_path / "aggregates").mkdir()
    breakdowns = tmp_path / "aggregates" / "wave-3-breakdowns.csv"
    breakdowns.write_text("wave,n\nQ1,12\n", encoding="utf-8")

    path = write_datapackage(DATASET, tmp_path, files={**written, "wave-3-breakdowns": breakdowns})

    assert json.loads(path.read_text(encoding="utf-8"))["resources"][4] == {
        "bytes": 13,
        "format": "csv",
        "hash": f"sha256:{sha256(breakdowns)}",
        "mediatype": "text/csv",
        "name": "wave-3-breakdowns",
        "path": "aggregates/wave-3-breakdowns.csv",
        "profile": "data-resource",
    }
    with pytest.raises(ValueError, match=r"^extra cannot replace the package's own keys \['name'\]$"):
        write_datapackage(DATASET, tmp_path, files=written, extra={"name": "other"})


# --- Codebooks --------------------------------------------------------------


POWER_EN_LINES = f"""#### `power_joint`

- Label: {POWER_EN}
- Type: integer
- Text in every language:
  - English: {POWER_EN}
  - Español: {POWER_ES}
- Description: Area: power & decision-making.
- Label in Stata (shortened to 80 characters): {POWER_STATA}

| Code | Label | Status |
| ---: | --- | --- |
| 1 | Strongly disagree | valid |
| 2 | Disagree | valid |
| 3 | Neither | valid |
| 4 | Agree | valid |
| 5 | Strongly agree | valid |
| -9 | Not answered | missing |
| -8 | Don't know | missing |
"""

POWER_ES_LINES = f"""#### `power_joint`

- Etiqueta: {POWER_ES}
- Tipo: entero
- Texto en cada idioma:
  - English: {POWER_EN}
  - Español: {POWER_ES}
- Descripción: Área: poder y toma de decisiones.
- Etiqueta en Stata (acortada a 80 caracteres): {POWER_STATA}

| Código | Etiqueta | Estado |
| ---: | --- | --- |
| 1 | Muy en desacuerdo | válido |
| 2 | En desacuerdo | válido |
| 3 | Ni de acuerdo ni en desacuerdo | válido |
| 4 | De acuerdo | válido |
| 5 | Muy de acuerdo | válido |
| -9 | Sin respuesta | perdido |
| -8 | No sabe | perdido |
"""

SCORE_ES_LINES = """#### `power_score`

- Etiqueta: Puntuación de poder y toma de decisiones
- Tipo: número
- Decimales: 2
- Texto en cada idioma:
  - English: Power & decision-making score
  - Español: Puntuación de poder y toma de decisiones
- Perdido: celda vacía (CSV), nulo (Parquet), perdido del sistema (SPSS, Stata)
"""


def test_writes_one_codebook_per_language(tmp_path: Path, written: dict[str, Path]) -> None:
    paths = write_codebook(DATASET, tmp_path, files=written)

    assert paths == {"en": tmp_path / "codebook.en.md", "es": tmp_path / "codebook.es.md"}
    english = paths["en"].read_text(encoding="utf-8")
    spanish = paths["es"].read_text(encoding="utf-8")
    assert POWER_EN_LINES in english
    assert POWER_ES_LINES in spanish
    assert SCORE_ES_LINES in spanish
    assert english.startswith("# Coalition Pulse researcher export\n\nOne row per response.\n")
    assert spanish.startswith("# Exportación para investigación de Coalition Pulse\n\nUna fila por respuesta.\n")
    assert "## Notes\n\nk = 5; 1 value suppressed.\n" in english
    assert "## Notas\n\nk = 5; 1 valor suprimido.\n" in spanish
    assert [line for line in spanish.splitlines() if line.startswith("#")] == [
        "# Exportación para investigación de Coalition Pulse",
        "## Notas",
        "## Archivos",
        "## Convenciones",
        "## Variables",
        "### Número de fila",
        "#### `row`",
        "### Cuasi-identificadores",
        "#### `sector`",
        "### Ítems: Poder y toma de decisiones",
        "#### `power_joint`",
        "### Sector pairs",  # a plain-string group is the same in every language
        "#### `pair_health`",
        "### Puntuaciones",
        "#### `power_score`",
    ]
    for text in (english, spanish):
        for variable in DATASET.variables:
            for language in ("en", "es"):
                assert variable.label[language] in text


def test_codebook_lists_files_escapes_pipes_and_names_the_stata_recode(
    tmp_path: Path, written: dict[str, Path]
) -> None:
    paths = write_codebook(DATASET, tmp_path, files=written)
    english = paths["en"].read_text(encoding="utf-8")
    spanish = paths["es"].read_text(encoding="utf-8")

    csv = written["csv"]
    assert f"| `microdata.csv` | CSV (UTF-8) | {csv.stat().st_size} | `{sha256(csv)}` |" in english
    dta = written["dta"]
    assert f"| `microdata.dta` | Stata 14 o posterior (.dta) | {dta.stat().st_size} | `{sha256(dta)}` |" in spanish
    assert "| 2 | Police \\| courts | valid |" in english
    assert "| 2 | Policía \\| tribunales | válido |" in spanish
    assert "`mvdecode _all, mv(-9/-1)`" in english
    assert "`mvdecode _all, mv(-9/-1)`" in spanish


def test_labels_are_shortened_on_whole_characters() -> None:
    assert formats.stata_label("é" * 81) == "é" * 79 + "…"
    assert formats.stata_label("word " * 16 + "end") == " ".join(["word"] * 16) + "…"
    assert formats.spss_label("é" * 200) == "é" * 126 + "…"  # 126 × 2 bytes + 3 bytes = 255 ≤ 256
    assert len(formats.spss_label("é" * 200).encode()) == 255
    assert formats.stata_label("short") == "short"


def test_parquet_column_types_follow_the_values(tmp_path: Path) -> None:
    count = Variable("count", {"en": "Count", "es": "Cuenta"}, "integer", missing={-9: NOT_ANSWERED})
    dataset = replace(DATASET, variables=(count,))
    frame = pd.DataFrame({"count": np.array([0, 300, -9, 70_000], dtype=np.int64)})

    paths = write_microdata(dataset, frame, tmp_path, rng=np.random.default_rng(1))

    schema = pq.read_schema(paths["parquet"])
    assert [str(schema.field(name).type) for name in ("row", "count")] == ["int8", "int32"]
    assert sorted(pd.read_csv(paths["csv"])["count"].tolist()) == [-9, 0, 300, 70_000]


# --- CSV formula injection (issue 10) ---------------------------------------


FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "-1+2", "@SUM(A1)", "\tx", "\rx"]


def test_labels_that_are_formulas_never_reach_the_microdata_csv(tmp_path: Path) -> None:
    # The CSV holds numbers and checked names only; labels live in the codebooks and datapackage.json.
    hostile = replace(
        SECTOR,
        label={"en": FORMULAS[0], "es": FORMULAS[1]},
        value_labels={code: {"en": FORMULAS[code + 1], "es": FORMULAS[code + 2]} for code in (1, 2, 3)},
    )
    dataset = replace(DATASET, variables=(hostile, POWER, PAIR, SCORE))

    paths = write_microdata(dataset, literal_frame(), tmp_path, rng=np.random.default_rng(SEED), chunk_rows=5)

    permutation = permutations()["csv"]
    lines = ["row,sector,power_joint,pair_health,power_score"] + [
        f"{position + 1},{SECTORS[index]},{POWERS[index]},{PAIRS[index]},{SCORES_CSV[index]}"
        for position, index in enumerate(permutation)
    ]
    text = paths["csv"].read_text(encoding="utf-8")
    assert text == "\n".join(lines) + "\n"
    cells = [cell for line in text.splitlines() for cell in line.split(",")]
    # The missing codes are plain negative numbers, which the CSV rule leaves as they are.
    assert [cell for cell in cells if cell.startswith("-")] == [str(code) for code in _negative_codes(permutation)]
    assert [neutralise_cell(cell) for cell in cells] == cells


def _negative_codes(permutation: list[int]) -> list[int]:
    return [value for index in permutation for value in (SECTORS[index], POWERS[index], PAIRS[index]) if value < 0]


@pytest.mark.parametrize("name", ["=cmd", "-1", "+x", "@x", "\tx", "\rx", "x\r=cmd"])
def test_a_variable_name_that_a_spreadsheet_would_run_is_refused_and_nothing_is_written(
    tmp_path: Path, name: str
) -> None:
    dataset = replace(DATASET, variables=(replace(SECTOR, name=name),))
    frame = pd.DataFrame({name: np.array(SECTORS, dtype=np.int64)})

    with pytest.raises(ValueError, match=f"^{re.escape(f'variable name {name!r} must start with a lowercase')}"):
        write_microdata(dataset, frame, tmp_path, rng=np.random.default_rng(SEED))

    assert list(tmp_path.iterdir()) == []


def test_formats_imports_nothing_from_django_or_the_project() -> None:
    tree = ast.parse(Path(formats.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }

    assert imported == {
        "collections",
        "dataclasses",
        "hashlib",
        "json",
        "numpy",
        "pandas",
        "pathlib",
        "pyarrow",
        "pyreadstat",
        "re",
        "typing",
    }
