"""Write the files of a researcher export: microdata in four formats, datapackage.json and codebooks.

Pure: pandas, numpy, pyarrow, pyreadstat and the standard library; nothing
from Django, DRF, Celery or the project's apps, so the writers can be tested
and benchmarked on literal frames.

Conventions (PRIVACY.md rule 15 and the codebook's "Conventions" section):

- Every column is numeric. "integer" columns hold codes: valid codes are
  ≥ 0, missing codes are negative (-9 not answered, -8 don't know,
  -7 suppressed, …) and there is never a NaN. "number" columns (scores) are
  floats rounded to `decimals` (numpy.round: half to even) in every file,
  NaN where the value could not be computed.
- Each microdata file gets its own shuffle: for the formats in `FORMATS`
  order, one `rng.permutation(n)` each; row i (1-based) of that file holds
  the frame's row `permutation[i - 1]`, and a first column `row` numbers the
  rows 1..n in the file's order. A `row` value therefore names different
  responses in different files and joins nothing.
- SPSS declares the negative codes user-missing. Stata keeps them as
  labelled negative values, which users recode with `mvdecode` (pyreadstat
  writes Stata's extended missing values .a–.z only from object columns
  mixing numbers and letters, which would multiply the memory). CSV and
  Parquet keep them as plain negative integers; datapackage.json lists them
  in each field's `missingValues`.
- Labels are shortened with "…" where a format limits them (Stata: 80
  characters; SPSS: 256 bytes for variable labels, 120 for value labels);
  the codebooks and datapackage.json keep the full text. The binary formats
  carry the labels of the first language (English).

Memory stays bounded: the frame is validated into one compact copy (int8 /
int16 codes), CSV and Parquet are written a chunk at a time, and SPSS and
Stata (pyreadstat writes a whole frame) get one shuffled compact copy each,
freed before the next file. `bench/exports.py` measures it.
"""

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pyreadstat

Language = str
Kind = Literal["integer", "number"]

FORMATS = ("csv", "parquet", "sav", "dta")  # also the order in which the permutations are drawn
FILE_NAMES = {
    "csv": "microdata.csv",
    "parquet": "microdata.parquet",
    "sav": "microdata.sav",
    "dta": "microdata.dta",
}
_MEDIA_TYPES_BY_SUFFIX = {
    ".csv": "text/csv",
    ".parquet": "application/vnd.apache.parquet",
    ".sav": "application/x-spss-sav",
    ".dta": "application/x-stata-dta",
    ".json": "application/json",
    ".md": "text/markdown",
}
ROW = "row"
STATA_VERSION = 14  # format 118: UTF-8, read by Stata 14 and later and by pandas.read_stata (15 writes 119: Stata 15+)
STATA_LABEL_CHARACTERS = 80
SPSS_VARIABLE_LABEL_BYTES = 256
SPSS_VALUE_LABEL_BYTES = 120
SPSS_FILE_LABEL_BYTES = 64
SPSS_DISCRETE_MISSING_VALUES = 3  # more missing codes are declared as one range
# Stata's "long" (pyreadstat writes every small integer column as one): larger values are Stata missing values.
STATA_LONG_MINIMUM = -2_147_483_647
STATA_LONG_MAXIMUM = 2_147_483_620
HASH_BLOCK_BYTES = 1 << 20
MAXIMUM_DECIMALS = 6
NUMBER_LIMIT = 1e9  # with at most 6 decimals, value × 10^decimals stays exact in an int64 when writing CSV

_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
_NAME_MAXIMUM_LENGTH = 32  # Stata's limit; SPSS allows 64 bytes
_PACKAGE_NAME_PATTERN = re.compile(r"[a-z0-9._-]+")
_ELLIPSIS = "…"


@dataclass(frozen=True)
class Variable:
    """One column of the microdata; every column is numeric."""

    name: str
    label: Mapping[Language, str]
    kind: Kind
    value_labels: Mapping[int, Mapping[Language, str]] = field(default_factory=dict)
    missing: Mapping[int, Mapping[Language, str]] = field(default_factory=dict)
    decimals: int | None = None
    description: Mapping[Language, str] = field(default_factory=dict)
    # A plain string (the same in every codebook) or one text per language.
    group: str | Mapping[Language, str] = ""


@dataclass(frozen=True)
class Dataset:
    """The microdata's metadata: `variables` in column order, without `row` (the writers add it)."""

    name: str
    title: Mapping[Language, str]
    description: Mapping[Language, str]
    variables: Sequence[Variable]
    notes: Mapping[Language, str]
    languages: Sequence[Language] = ("en", "es")


# Fixed texts of the codebooks and of the `row` column, one dict per language.
_PHRASES: dict[Language, dict[str, str]] = {
    "en": {
        "language": "English",
        "package": "Data package name",
        "notes": "Notes",
        "files": "Files",
        "file": "File",
        "format": "Format",
        "bytes": "Size (bytes)",
        "sha256": "SHA-256",
        "conventions": "Conventions",
        "conventions.rows": (
            "Each row is one response. The rows are in a different random order in each file, and `row` numbers"
            " them 1 to N in that file's order: `row` does not link a response across files, waves or exports."
        ),
        "conventions.missing": (
            "Negative codes are missing values; their labels say why. In SPSS they are declared user-missing."
            " Stata keeps them as labelled negative values: recode them before analysis, for example with"
            " `mvdecode _all, mv({lowest}/-1)`. In CSV and Parquet they are plain negative integers, listed as"
            " `missingValues` in datapackage.json."
        ),
        "conventions.numbers": (
            "Number columns (scores) are rounded to the decimals shown. Where a value could not be computed the"
            " cell is empty in CSV, null in Parquet and system-missing in SPSS and Stata."
        ),
        "conventions.labels": (
            "Stata limits variable labels to 80 characters and SPSS to 256 bytes: longer labels are shortened"
            " with “…” in those files. This codebook and datapackage.json have the full text."
        ),
        "variables": "Variables",
        "label": "Label",
        "type": "Type",
        "kind.integer": "integer",
        "kind.number": "number",
        "decimals": "Decimals",
        "texts": "Text in every language",
        "description": "Description",
        "stata_label": "Label in Stata (shortened to 80 characters)",
        "spss_label": "Label in SPSS (shortened to 256 bytes)",
        "system_missing": "Missing: empty cell (CSV), null (Parquet), system-missing (SPSS, Stata)",
        "code": "Code",
        "status": "Status",
        "valid": "valid",
        "missing": "missing",
        "group.row": "Row number",
        "group.other": "Other variables",
        "row.label": "Row number (random order, different in each file)",
        "row.description": "Numbers the rows 1 to N in this file's random order; it identifies nothing else.",
        "format.csv": "CSV (UTF-8)",
        "format.parquet": "Apache Parquet",
        "format.sav": "SPSS (.sav)",
        "format.dta": "Stata 14 or later (.dta)",
        "format.datapackage": "Frictionless Data Package (JSON)",
        "format.json": "JSON",
        "format.md": "Markdown",
    },
    "es": {
        "language": "Español",
        "package": "Nombre del paquete de datos",
        "notes": "Notas",
        "files": "Archivos",
        "file": "Archivo",
        "format": "Formato",
        "bytes": "Tamaño (bytes)",
        "sha256": "SHA-256",
        "conventions": "Convenciones",
        "conventions.rows": (
            "Cada fila es una respuesta. Las filas están en un orden aleatorio distinto en cada archivo y `row`"
            " las numera de 1 a N en el orden de ese archivo: `row` no vincula una respuesta entre archivos,"
            " oleadas ni exportaciones."
        ),
        "conventions.missing": (
            "Los códigos negativos son valores perdidos; su etiqueta indica el motivo. En SPSS están declarados"
            " como perdidos por el usuario. Stata los conserva como valores negativos etiquetados: recodifíquelos"
            " antes del análisis, por ejemplo con `mvdecode _all, mv({lowest}/-1)`. En CSV y Parquet son enteros"
            " negativos, listados como `missingValues` en datapackage.json."
        ),
        "conventions.numbers": (
            "Las columnas numéricas (puntuaciones) están redondeadas a los decimales indicados. Cuando un valor"
            " no pudo calcularse, la celda está vacía en CSV, es nula en Parquet y es un perdido del sistema en"
            " SPSS y Stata."
        ),
        "conventions.labels": (
            "Stata limita las etiquetas de variable a 80 caracteres y SPSS a 256 bytes: las etiquetas más largas"
            " se acortan con «…» en esos archivos. Este libro de códigos y datapackage.json tienen el texto"
            " completo."
        ),
        "variables": "Variables",
        "label": "Etiqueta",
        "type": "Tipo",
        "kind.integer": "entero",
        "kind.number": "número",
        "decimals": "Decimales",
        "texts": "Texto en cada idioma",
        "description": "Descripción",
        "stata_label": "Etiqueta en Stata (acortada a 80 caracteres)",
        "spss_label": "Etiqueta en SPSS (acortada a 256 bytes)",
        "system_missing": ("Perdido: celda vacía (CSV), nulo (Parquet), perdido del sistema (SPSS, Stata)"),
        "code": "Código",
        "status": "Estado",
        "valid": "válido",
        "missing": "perdido",
        "group.row": "Número de fila",
        "group.other": "Otras variables",
        "row.label": "Número de fila (orden aleatorio, distinto en cada archivo)",
        "row.description": "Numera las filas de 1 a N en el orden aleatorio de este archivo; no identifica nada más.",
        "format.csv": "CSV (UTF-8)",
        "format.parquet": "Apache Parquet",
        "format.sav": "SPSS (.sav)",
        "format.dta": "Stata 14 o posterior (.dta)",
        "format.datapackage": "Frictionless Data Package (JSON)",
        "format.json": "JSON",
        "format.md": "Markdown",
    },
}


# --- Validation -------------------------------------------------------------


def _check_texts(texts: Mapping[Language, str], *, languages: Sequence[Language], what: str) -> None:
    absent = [language for language in languages if not isinstance(texts.get(language), str) or not texts[language]]
    if absent:
        raise ValueError(f"{what} has no text for language(s) {absent}")


def _check_variable(variable: Variable, *, languages: Sequence[Language]) -> None:
    name = variable.name
    if not (isinstance(name, str) and _NAME_PATTERN.fullmatch(name) and len(name) <= _NAME_MAXIMUM_LENGTH):
        raise ValueError(
            f"variable name {name!r} must start with a lowercase letter, hold only lowercase letters, digits"
            f" and _, and have at most {_NAME_MAXIMUM_LENGTH} characters"
        )
    if name == ROW:
        raise ValueError(f"variable name {ROW!r} is reserved: write_microdata adds the row number column itself")
    if variable.kind not in ("integer", "number"):
        raise ValueError(f"variable {name!r}: kind must be 'integer' or 'number', not {variable.kind!r}")
    _check_texts(variable.label, languages=languages, what=f"variable {name!r}: label")
    if variable.description:
        _check_texts(variable.description, languages=languages, what=f"variable {name!r}: description")
    if not isinstance(variable.group, str):
        _check_texts(variable.group, languages=languages, what=f"variable {name!r}: group")
    if variable.kind == "number":
        if variable.value_labels or variable.missing:
            raise ValueError(
                f"variable {name!r}: a number column has no codes (NaN is its only missing value);"
                " use kind 'integer' for coded values"
            )
        decimals = variable.decimals
        if decimals is not None and not (isinstance(decimals, int) and 0 <= decimals <= MAXIMUM_DECIMALS):
            raise ValueError(
                f"variable {name!r}: decimals must be an integer from 0 to {MAXIMUM_DECIMALS}, not {decimals!r}"
            )
        return
    if variable.decimals is not None:
        raise ValueError(f"variable {name!r}: decimals apply to number columns only")
    for codes, is_missing in ((variable.value_labels, False), (variable.missing, True)):
        for code, labels in codes.items():
            if not isinstance(code, int) or isinstance(code, bool):
                raise ValueError(f"variable {name!r}: code {code!r} is not an integer")
            if is_missing and code >= 0:
                raise ValueError(f"variable {name!r}: missing code {code} must be negative")
            if not is_missing and code < 0:
                raise ValueError(f"variable {name!r}: valid code {code} must be 0 or more (negative codes are missing)")
            if not STATA_LONG_MINIMUM <= code <= STATA_LONG_MAXIMUM:
                raise ValueError(f"variable {name!r}: code {code} is out of range")
            _check_texts(labels, languages=languages, what=f"variable {name!r}: the label of code {code}")


def _check_dataset(dataset: Dataset) -> None:
    languages = list(dataset.languages)
    if not languages or len(set(languages)) != len(languages):
        raise ValueError(f"languages must be a non-empty list without repeats, not {languages}")
    unsupported = [language for language in languages if language not in _PHRASES]
    if unsupported:
        raise ValueError(f"no codebook texts for language(s) {unsupported}; supported: {sorted(_PHRASES)}")
    if not (isinstance(dataset.name, str) and _PACKAGE_NAME_PATTERN.fullmatch(dataset.name)):
        raise ValueError(f"dataset name {dataset.name!r} must hold only lowercase letters, digits, '.', '_' and '-'")
    for what, texts in (("title", dataset.title), ("description", dataset.description), ("notes", dataset.notes)):
        _check_texts(texts, languages=languages, what=f"dataset {what}")
    if not dataset.variables:
        raise ValueError("a dataset needs at least one variable")
    names = [variable.name for variable in dataset.variables]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"variable names must be unique; repeated: {repeated}")
    for variable in dataset.variables:
        _check_variable(variable, languages=languages)


def _integer_values(variable: Variable, column: pd.Series) -> npt.NDArray[np.int64]:
    name = variable.name
    if pd.api.types.is_bool_dtype(column.dtype) or not (
        pd.api.types.is_integer_dtype(column.dtype) or pd.api.types.is_float_dtype(column.dtype)
    ):
        raise ValueError(f"column {name!r} is an integer column and needs an integer dtype, not {column.dtype}")
    missing_count = int(column.isna().sum())
    if missing_count:
        raise ValueError(
            f"column {name!r} is an integer column but has NaN in {missing_count} row(s);"
            " an integer column holds a negative missing code instead"
        )
    if pd.api.types.is_float_dtype(column.dtype):
        raise ValueError(f"column {name!r} is an integer column and needs an integer dtype, not {column.dtype}")
    values: npt.NDArray[np.int64] = column.to_numpy(dtype=np.int64)
    allowed_missing = np.fromiter(variable.missing, dtype=np.int64, count=len(variable.missing))
    if variable.value_labels:
        codes = np.fromiter(variable.value_labels, dtype=np.int64, count=len(variable.value_labels))
        is_unknown = ~np.isin(values, np.concatenate([codes, allowed_missing]))
        problem = "values that are neither valid codes nor missing codes"
    else:
        is_unknown = (values < 0) & ~np.isin(values, allowed_missing)
        is_unknown |= values > STATA_LONG_MAXIMUM
        problem = "negative values that are not missing codes, or values out of range"
    if is_unknown.any():
        unknown = np.unique(values[is_unknown])
        shown = ", ".join(str(value) for value in unknown[:10]) + (", …" if len(unknown) > 10 else "")
        raise ValueError(f"column {name!r} has {problem}: [{shown}]")
    return values


def _number_values(variable: Variable, column: pd.Series) -> npt.NDArray[np.float64]:
    if not pd.api.types.is_float_dtype(column.dtype):
        raise ValueError(f"column {variable.name!r} is a number column and needs a float dtype, not {column.dtype}")
    values: npt.NDArray[np.float64] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        raise ValueError(f"column {variable.name!r} has infinite values")
    if (np.abs(values[~np.isnan(values)]) >= NUMBER_LIMIT).any():
        raise ValueError(f"column {variable.name!r} has values of {NUMBER_LIMIT:.0e} or more in magnitude")
    if variable.decimals is not None:
        # Adding 0.0 turns -0.0 (a small negative value rounded) into 0.0, so no file shows "-0.00".
        values = np.round(values, variable.decimals) + 0.0
    return values


def _compact_integer_dtype(minimum: int, maximum: int) -> np.dtype[Any]:
    for dtype in (np.int8, np.int16, np.int32):
        information = np.iinfo(dtype)
        if information.min <= minimum and maximum <= information.max:
            return np.dtype(dtype)
    raise ValueError(f"integer values from {minimum} to {maximum} do not fit in 32 bits")


def _compact_columns(dataset: Dataset, frame: pd.DataFrame) -> dict[str, npt.NDArray[Any]]:
    """Return every column as a numpy array with the smallest dtype that fits, after validating it."""
    names = [variable.name for variable in dataset.variables]
    columns = [str(column) for column in frame.columns]
    repeated = sorted({column for column in columns if columns.count(column) > 1})
    if repeated:
        raise ValueError(f"frame columns must be unique; repeated: {repeated}")
    missing = [name for name in names if name not in columns]
    unexpected = [column for column in columns if column not in names]
    if missing or unexpected:
        raise ValueError(f"frame columns do not match the variables: missing {missing}, unexpected {unexpected}")
    compact: dict[str, npt.NDArray[Any]] = {}
    for variable in dataset.variables:
        column = frame[variable.name]
        if variable.kind == "number":
            compact[variable.name] = _number_values(variable, column)
            continue
        values = _integer_values(variable, column)
        # The dtype follows the declared codes too, so the same metadata gives the same Parquet schema.
        bounds = [*variable.value_labels, *variable.missing]
        if len(values):
            bounds += [int(values.min()), int(values.max())]
        dtype = _compact_integer_dtype(min(bounds, default=0), max(bounds, default=0))
        compact[variable.name] = values.astype(dtype)
    return compact


# --- Microdata --------------------------------------------------------------


def _row_variable(languages: Sequence[Language]) -> Variable:
    return Variable(
        name=ROW,
        label={language: _PHRASES[language]["row.label"] for language in languages},
        kind="integer",
        description={language: _PHRASES[language]["row.description"] for language in languages},
        group={language: _PHRASES[language]["group.row"] for language in languages},
    )


def _all_variables(dataset: Dataset) -> list[Variable]:
    return [_row_variable(dataset.languages), *dataset.variables]


def _row_numbers(count: int) -> npt.NDArray[Any]:
    return np.arange(1, count + 1, dtype=_compact_integer_dtype(0, max(count, 1)))


def _shuffled_frame(columns: Mapping[str, npt.NDArray[Any]], permutation: npt.NDArray[np.intp]) -> pd.DataFrame:
    """Return the rows in `permutation`'s order with `row` first, keeping the compact dtypes."""
    data: dict[str, npt.NDArray[Any]] = {ROW: _row_numbers(len(permutation))}
    data.update({name: values[permutation] for name, values in columns.items()})
    return pd.DataFrame(data, copy=False)


def _chunks(count: int, chunk_rows: int) -> Iterator[slice]:
    for start in range(0, count, chunk_rows):
        yield slice(start, min(start + chunk_rows, count))


def _decimal_text(values: npt.NDArray[np.float64], decimals: int) -> pa.Array:
    """Return `values` as text with exactly `decimals` digits, null where NaN (written as an empty cell)."""
    # Integer arithmetic in Arrow: about ten times faster than formatting each value in Python.
    is_missing = np.isnan(values)
    scale = 10**decimals
    scaled = np.rint(np.abs(np.where(is_missing, 0.0, values)) * scale).astype(np.int64)
    text = pc.cast(pa.array(scaled // scale), pa.string())
    if decimals:
        fraction = pc.utf8_lpad(pc.cast(pa.array(scaled % scale), pa.string()), decimals, "0")
        text = pc.binary_join_element_wise(text, fraction, ".")
    sign = pa.array(np.where((values < 0) & (scaled > 0), "-", ""))
    text = pc.binary_join_element_wise(sign, text, "")
    return pc.if_else(pa.array(is_missing), pa.scalar(None, pa.string()), text)


def _write_csv(
    dataset: Dataset,
    columns: Mapping[str, npt.NDArray[Any]],
    permutation: npt.NDArray[np.intp],
    path: Path,
    *,
    chunk_rows: int,
) -> None:
    rows = _row_numbers(len(permutation))
    decimals = {variable.name: variable.decimals for variable in dataset.variables if variable.decimals is not None}
    schema = pa.schema(
        [pa.field(ROW, pa.from_numpy_dtype(rows.dtype))]
        + [
            pa.field(name, pa.string() if name in decimals else pa.from_numpy_dtype(values.dtype))
            for name, values in columns.items()
        ]
    )
    # Every value is a number, so nothing needs quoting ("none" raises if something ever did). Nor can a
    # cell start a spreadsheet formula (issue 10): headers match _NAME_PATTERN and numbers such as -9 are
    # what config/csv_safety.py leaves unchanged, so this pure module needs no import of it (tests check).
    options = pa_csv.WriteOptions(quoting_style="none", quoting_header="none", eol="\n")
    with pa_csv.CSVWriter(str(path), schema, write_options=options) as writer:
        for chunk in _chunks(len(permutation), chunk_rows):
            indices = permutation[chunk]
            arrays = [pa.array(rows[chunk])]
            for name, values in columns.items():
                selected = values[indices]
                if name in decimals:
                    arrays.append(_decimal_text(selected, decimals[name]))
                else:
                    arrays.append(pa.array(selected, mask=np.isnan(selected) if selected.dtype.kind == "f" else None))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


def _parquet_schema(dataset: Dataset, columns: Mapping[str, npt.NDArray[Any]], row_dtype: np.dtype[Any]) -> pa.Schema:
    language = dataset.languages[0]
    fields = []
    for variable in _all_variables(dataset):
        dtype = row_dtype if variable.name == ROW else columns[variable.name].dtype
        metadata = {"label": variable.label[language], "kind": variable.kind}
        if variable.value_labels:
            metadata["value_labels"] = json.dumps(
                {str(code): labels[language] for code, labels in sorted(variable.value_labels.items())},
                ensure_ascii=False,
            )
        if variable.missing:
            metadata["missing_codes"] = json.dumps(
                {str(code): labels[language] for code, labels in sorted(variable.missing.items())},
                ensure_ascii=False,
            )
        if variable.decimals is not None:
            metadata["decimals"] = str(variable.decimals)
        fields.append(
            pa.field(variable.name, pa.from_numpy_dtype(dtype), nullable=variable.kind == "number", metadata=metadata)
        )
    return pa.schema(fields, metadata={"name": dataset.name, "title": dataset.title[language]})


def _write_parquet(
    dataset: Dataset,
    columns: Mapping[str, npt.NDArray[Any]],
    permutation: npt.NDArray[np.intp],
    path: Path,
    *,
    chunk_rows: int,
) -> None:
    rows = _row_numbers(len(permutation))
    schema = _parquet_schema(dataset, columns, rows.dtype)
    with pq.ParquetWriter(path, schema) as writer:
        for chunk in _chunks(len(permutation), chunk_rows):
            indices = permutation[chunk]
            arrays = [pa.array(rows[chunk])]
            for values in columns.values():
                selected = values[indices]
                is_null = np.isnan(selected) if selected.dtype.kind == "f" else None
                arrays.append(pa.array(selected, mask=is_null))
            # One write per chunk: each call makes its own row group.
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=chunk_rows)


def _shorten(text: str, *, characters: int | None = None, utf8_bytes: int | None = None) -> str:
    """Return `text`, or its longest prefix plus "…" that fits the limits (whole characters only)."""
    text = " ".join(text.split())

    def fits(candidate: str) -> bool:
        return (characters is None or len(candidate) <= characters) and (
            utf8_bytes is None or len(candidate.encode("utf-8")) <= utf8_bytes
        )

    if fits(text):
        return text
    end = len(text)
    while end and not fits(text[:end].rstrip() + _ELLIPSIS):
        end -= 1
    return text[:end].rstrip() + _ELLIPSIS


def stata_label(text: str) -> str:
    """Return `text` as Stata stores it: at most 80 characters."""
    return _shorten(text, characters=STATA_LABEL_CHARACTERS)


def spss_label(text: str) -> str:
    """Return `text` as SPSS stores a variable label: at most 256 bytes of UTF-8."""
    return _shorten(text, utf8_bytes=SPSS_VARIABLE_LABEL_BYTES)


def _value_labels(variable: Variable, language: Language, *, utf8_bytes: int | None) -> dict[int | float, str]:
    codes = {**variable.value_labels, **variable.missing}
    return {code: _shorten(labels[language], utf8_bytes=utf8_bytes) for code, labels in sorted(codes.items())}


def _write_sav(
    dataset: Dataset, columns: Mapping[str, npt.NDArray[Any]], permutation: npt.NDArray[np.intp], path: Path
) -> None:
    language = dataset.languages[0]
    frame = _shuffled_frame(columns, permutation)
    variables = _all_variables(dataset)
    missing_ranges: dict[str, list[Any]] = {}
    for variable in variables:
        codes = sorted(variable.missing)
        if len(codes) > SPSS_DISCRETE_MISSING_VALUES:
            # All negative values are missing codes (validated), so the range covers nothing else.
            missing_ranges[variable.name] = [{"lo": codes[0], "hi": codes[-1]}]
        elif codes:
            missing_ranges[variable.name] = list(codes)
    display_formats = {}
    for variable in variables:
        values = frame[variable.name]
        if variable.kind == "integer":
            width = max((len(str(int(bound))) for bound in (values.min(), values.max()) if len(values)), default=1)
            display_formats[variable.name] = f"F{max(width, 2)}.0"
        elif variable.decimals is not None:
            largest = float(np.nanmax(np.abs(values))) if values.notna().any() else 0.0
            digits = len(str(int(largest))) + 1  # sign
            display_formats[variable.name] = f"F{digits + 1 + variable.decimals}.{variable.decimals}"
    pyreadstat.write_sav(
        frame,
        path,
        file_label=_shorten(dataset.title[language], utf8_bytes=SPSS_FILE_LABEL_BYTES),
        column_labels={variable.name: spss_label(variable.label[language]) for variable in variables},
        variable_value_labels={
            variable.name: _value_labels(variable, language, utf8_bytes=SPSS_VALUE_LABEL_BYTES)
            for variable in variables
            if variable.value_labels or variable.missing
        },
        missing_ranges=missing_ranges,
        variable_format=display_formats,
        # SPSS's classic bytecode compression: codes take 1 byte instead of 8, and every SPSS version reads it.
        row_compress=True,
    )


def _write_dta(
    dataset: Dataset, columns: Mapping[str, npt.NDArray[Any]], permutation: npt.NDArray[np.intp], path: Path
) -> None:
    language = dataset.languages[0]
    frame = _shuffled_frame(columns, permutation)
    variables = _all_variables(dataset)
    pyreadstat.write_dta(
        frame,
        path,
        file_label=stata_label(dataset.title[language]),
        column_labels={variable.name: stata_label(variable.label[language]) for variable in variables},
        version=STATA_VERSION,
        variable_value_labels={
            variable.name: _value_labels(variable, language, utf8_bytes=None)
            for variable in variables
            if variable.value_labels or variable.missing
        },
        variable_format={
            variable.name: f"%9.{variable.decimals}f" for variable in variables if variable.decimals is not None
        },
    )


def write_microdata(
    dataset: Dataset,
    frame: pd.DataFrame,
    directory: Path,
    *,
    rng: np.random.Generator,
    chunk_rows: int = 50_000,
) -> dict[str, Path]:
    """Write microdata.csv, .parquet, .sav and .dta into `directory` and return format -> path.

    Validate the dataset and the frame first (ValueError, nothing written).
    Each file gets its own shuffle: for each format in `FORMATS` order,
    `rng.permutation(len(frame))`; a first column `row` numbers the shuffled
    rows 1..n. CSV and Parquet are written `chunk_rows` rows at a time (one
    Parquet row group per chunk); pyreadstat writes a whole frame, so SPSS
    and Stata get one shuffled copy with compact dtypes, freed before the
    next file. If writing fails, the files written so far are removed.
    """
    if not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive integer, not {chunk_rows!r}")
    _check_dataset(dataset)
    columns = _compact_columns(dataset, frame)
    count = len(frame)
    paths = {file_format: Path(directory) / FILE_NAMES[file_format] for file_format in FORMATS}
    written: list[Path] = []
    try:
        for file_format in FORMATS:
            permutation = rng.permutation(count)
            path = paths[file_format]
            written.append(path)
            if file_format == "csv":
                _write_csv(dataset, columns, permutation, path, chunk_rows=chunk_rows)
            elif file_format == "parquet":
                _write_parquet(dataset, columns, permutation, path, chunk_rows=chunk_rows)
            elif file_format == "sav":
                _write_sav(dataset, columns, permutation, path)
            else:
                _write_dta(dataset, columns, permutation, path)
            # Arrow's allocator keeps freed pages for reuse; hand them back before the next file.
            pa.default_memory_pool().release_unused()
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return paths


# --- Data package -----------------------------------------------------------


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file as hex, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _relative_path(path: Path, directory: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(directory).resolve()).as_posix()
    except ValueError:
        raise ValueError(f"file {str(path)!r} is not inside {str(directory)!r}") from None


def _categories(variable: Variable, language: Language) -> list[dict[str, Any]]:
    return [{"value": code, "label": labels[language]} for code, labels in _codes(variable)]


def _codes(variable: Variable) -> list[tuple[int, Mapping[Language, str]]]:
    """Return the codes in codebook order: valid codes ascending, then missing codes ascending."""
    return sorted(variable.value_labels.items()) + sorted(variable.missing.items())


def _table_schema_field(variable: Variable, languages: Sequence[Language]) -> dict[str, Any]:
    language, *others = languages
    descriptor: dict[str, Any] = {"name": variable.name, "title": variable.label[language], "type": variable.kind}
    if variable.description:
        descriptor["description"] = variable.description[language]
    if variable.name == ROW:
        descriptor["constraints"] = {"required": True, "unique": True, "minimum": 1}
    if variable.value_labels:
        descriptor["constraints"] = {"enum": [code for code, _ in _codes(variable)]}
    if variable.value_labels or variable.missing:
        descriptor["categories"] = _categories(variable, language)
    if variable.missing:
        descriptor["missingValues"] = [str(code) for code in sorted(variable.missing)]
    if variable.decimals is not None:
        descriptor["x-decimals"] = variable.decimals
    group = variable.group if isinstance(variable.group, str) else variable.group[language]
    if group:
        descriptor["x-group"] = group
    translations: dict[str, Any] = {}
    for other in others:
        translation: dict[str, Any] = {"title": variable.label[other]}
        if variable.description:
            translation["description"] = variable.description[other]
        if not isinstance(variable.group, str):
            translation["group"] = variable.group[other]
        if variable.value_labels or variable.missing:
            translation["categories"] = _categories(variable, other)
        translations[other] = translation
    if translations:
        descriptor["x-labels"] = translations
    return descriptor


def _file_resource(key: str, path: Path, directory: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    return {
        "bytes": path.stat().st_size,
        "format": suffix.removeprefix("."),
        "hash": f"sha256:{file_sha256(path)}",
        "mediatype": _MEDIA_TYPES_BY_SUFFIX.get(suffix, "application/octet-stream"),
        "name": _resource_name(key),
        "path": _relative_path(path, directory),
    }


def _resource_name(key: str) -> str:
    if key in FORMATS:
        return "microdata" if key == "csv" else f"microdata-{key}"
    return re.sub(r"[^a-z0-9._-]+", "-", key.lower()).strip("-") or "file"


def write_datapackage(
    dataset: Dataset, directory: Path, *, files: Mapping[str, Path], extra: Mapping[str, Any] | None = None
) -> Path:
    """Write datapackage.json (a Frictionless Data Package) and return its path.

    The package's profile is "data-package", not "tabular-data-package":
    the latter requires every resource to be a Tabular Data Resource (CSV or
    inline data with a schema), which Parquet, SPSS and Stata files and the
    codebooks are not. The microdata CSV is a "tabular-data-resource".

    `files` maps a key to a file inside `directory`: the keys of
    `write_microdata` ("csv" is required: the tabular resource, with a Table
    Schema, `row` first) and any others (aggregates, codebooks, reports),
    which are listed as plain resources named after their key, with size and
    SHA-256. `extra` adds top-level keys (for example "x-disclosure"); it
    cannot replace the package's own.
    """
    _check_dataset(dataset)
    if "csv" not in files:
        raise ValueError("files must include the 'csv' microdata, the package's tabular resource")
    directory = Path(directory)
    path = directory / "datapackage.json"
    language, *others = dataset.languages
    csv_resource = {
        **_file_resource("csv", Path(files["csv"]), directory),
        "dialect": {"delimiter": ",", "header": True, "lineTerminator": "\n"},
        "encoding": "utf-8",
        "profile": "tabular-data-resource",
        "schema": {
            "fields": [_table_schema_field(variable, dataset.languages) for variable in _all_variables(dataset)],
            "missingValues": [""],
        },
    }
    resources = [csv_resource]
    others_first = [key for key in FORMATS[1:] if key in files] + [key for key in files if key not in FORMATS]
    for key in others_first:
        if Path(files[key]).resolve() == path.resolve():
            continue  # the package does not describe itself
        resources.append({**_file_resource(key, Path(files[key]), directory), "profile": "data-resource"})
    names = [resource["name"] for resource in resources]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"resource names must be unique; repeated: {repeated}")
    descriptor: dict[str, Any] = {
        "description": dataset.description[language],
        "name": dataset.name,
        "profile": "data-package",
        "resources": resources,
        "title": dataset.title[language],
    }
    if others:
        descriptor["x-labels"] = {
            other: {"description": dataset.description[other], "title": dataset.title[other]} for other in others
        }
    clashes = sorted(set(extra or {}) & set(descriptor))
    if clashes:
        raise ValueError(f"extra cannot replace the package's own keys {clashes}")
    descriptor.update(extra or {})
    path.write_text(json.dumps(descriptor, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# --- Codebooks --------------------------------------------------------------


def _inline(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    """Return `text` fit for a Markdown table cell: one line, pipes escaped."""
    return _inline(text).replace("|", r"\|")


def _group_text(variable: Variable, language: Language) -> str:
    if isinstance(variable.group, str):
        return variable.group or _PHRASES[language]["group.other"]
    return variable.group[language]


def _variable_lines(variable: Variable, dataset: Dataset, language: Language) -> list[str]:
    phrases = _PHRASES[language]
    primary = dataset.languages[0]
    lines = [f"#### `{variable.name}`", ""]
    lines.append(f"- {phrases['label']}: {_inline(variable.label[language])}")
    kind = phrases[f"kind.{variable.kind}"]
    lines.append(f"- {phrases['type']}: {kind}")
    if variable.decimals is not None:
        lines.append(f"- {phrases['decimals']}: {variable.decimals}")
    lines.append(f"- {phrases['texts']}:")
    lines.extend(f"  - {_PHRASES[other]['language']}: {_inline(variable.label[other])}" for other in dataset.languages)
    if variable.description:
        lines.append(f"- {phrases['description']}: {_inline(variable.description[language])}")
    full_label = _inline(variable.label[primary])
    if stata_label(full_label) != full_label:
        lines.append(f"- {phrases['stata_label']}: {stata_label(full_label)}")
    if spss_label(full_label) != full_label:
        lines.append(f"- {phrases['spss_label']}: {spss_label(full_label)}")
    if variable.kind == "number":
        lines.append(f"- {phrases['system_missing']}")
    codes = _codes(variable)
    if codes:
        lines += [
            "",
            f"| {phrases['code']} | {phrases['label']} | {phrases['status']} |",
            "| ---: | --- | --- |",
        ]
        lines.extend(
            f"| {code} | {_cell(labels[language])} | {phrases['missing' if code in variable.missing else 'valid']} |"
            for code, labels in codes
        )
    lines.append("")
    return lines


def _codebook(dataset: Dataset, directory: Path, files: Mapping[str, Path], language: Language) -> str:
    phrases = _PHRASES[language]
    lowest_missing = min((code for variable in dataset.variables for code in variable.missing), default=-9)
    lines = [
        f"# {_inline(dataset.title[language])}",
        "",
        dataset.description[language].strip(),
        "",
        f"{phrases['package']}: `{dataset.name}`",
        "",
        f"## {phrases['notes']}",
        "",
        dataset.notes[language].strip(),
        "",
        f"## {phrases['files']}",
        "",
        f"| {phrases['file']} | {phrases['format']} | {phrases['bytes']} | {phrases['sha256']} |",
        "| --- | --- | ---: | --- |",
    ]
    for file_format, path in files.items():
        path = Path(path)
        suffix = path.suffix.lower()
        shown_format = phrases.get(f"format.{file_format}") or phrases.get(f"format{suffix}", suffix.removeprefix("."))
        lines.append(
            f"| `{_cell(_relative_path(path, directory))}` | {_cell(shown_format)} | {path.stat().st_size}"
            f" | `{file_sha256(path)}` |"
        )
    lines += [
        "",
        f"## {phrases['conventions']}",
        "",
        phrases["conventions.rows"],
        "",
        phrases["conventions.missing"].format(lowest=lowest_missing),
        "",
        phrases["conventions.numbers"],
        "",
        phrases["conventions.labels"],
        "",
        f"## {phrases['variables']}",
        "",
    ]
    groups: dict[str, list[Variable]] = {}
    for variable in _all_variables(dataset):
        groups.setdefault(_group_text(variable, language), []).append(variable)
    for group, variables in groups.items():
        lines += [f"### {_inline(group)}", ""]
        for variable in variables:
            lines += _variable_lines(variable, dataset, language)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_codebook(dataset: Dataset, directory: Path, *, files: Mapping[str, Path]) -> dict[str, Path]:
    """Write codebook.<language>.md for every language of the dataset and return language -> path.

    Each codebook is in its own language (fixed texts from `_PHRASES`) and
    lists the files in `files` (format -> path inside `directory`; keys
    other than the microdata formats, such as "datapackage", are shown as
    given) with size and SHA-256, then every variable by group with its
    text in every language and its codes.
    """
    _check_dataset(dataset)
    directory = Path(directory)
    texts = {language: _codebook(dataset, directory, files, language) for language in dataset.languages}
    paths = {}
    for language, text in texts.items():
        path = directory / f"codebook.{language}.md"
        path.write_text(text, encoding="utf-8")
        paths[language] = path
    return paths


__all__ = [
    "FORMATS",
    "Dataset",
    "Language",
    "Variable",
    "file_sha256",
    "spss_label",
    "stata_label",
    "write_codebook",
    "write_datapackage",
    "write_microdata",
]
