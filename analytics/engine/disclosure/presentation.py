"""How hidden cells and published figures look: one marker (rule 2), sizes (rule 7), rounding (rule 8)."""

import math
from collections.abc import Collection

import pandas as pd

from analytics.engine.disclosure.joint_audit import MINIMUM_K_SENSITIVE

SUPPRESSED_COLUMN = "suppressed"
# The text shown for any figure that is hidden or missing, whatever the reason.
HIDDEN_TEXT = "—"


def apply_suppression(
    cells_df: pd.DataFrame,
    hidden_ids: Collection[str],
    *,
    id_column: str = "cell_id",
    label_columns: Collection[str] = (),
) -> pd.DataFrame:
    """Return a copy in which every hidden row is the one marker, whatever its n (rule 2).

    A row is hidden when its id is in `hidden_ids` or its `suppressed` column
    is already true. In a hidden row every column except the id and the
    `label_columns` becomes None — the statistics (`STATISTIC_COLUMNS`) and
    any other column, so an undeclared column cannot leak — and `suppressed`
    is True. Those columns become object columns holding plain Python values,
    with None for missing figures in visible rows too, so every row serialises
    to JSON the same way. For a breakdown table the labels are typically
    `dimensions`, `groups`, `measure`, `area` and `is_sensitive`.
    """
    kept = {id_column, *label_columns}
    missing = kept - set(cells_df.columns)
    if missing:
        raise ValueError(f"columns not in the frame: {sorted(missing)}")
    hidden = cells_df[id_column].isin(list(hidden_ids)).to_numpy(dtype=bool, copy=True)
    if SUPPRESSED_COLUMN in cells_df.columns:
        hidden = hidden | cells_df[SUPPRESSED_COLUMN].fillna(False).to_numpy(dtype=bool)
    result = cells_df.drop(columns=[SUPPRESSED_COLUMN], errors="ignore")
    for column in result.columns:
        if column in kept:
            continue
        values = result[column].astype(object)
        result[column] = values.where(values.notna() & ~hidden, None)
    result[SUPPRESSED_COLUMN] = hidden
    return result


def sensitive_size_label(n: int, *, k_sensitive: int = MINIMUM_K_SENSITIVE) -> str:
    """Return how the size of a sensitive group is shown: "10 or more" or "fewer than 10" (rule 7)."""
    if k_sensitive < MINIMUM_K_SENSITIVE:
        raise ValueError(f"k_sensitive must be at least {MINIMUM_K_SENSITIVE}")
    return f"{k_sensitive} or more" if n >= k_sensitive else f"fewer than {k_sensitive}"


def _is_missing(value: float | None) -> bool:
    return value is None or math.isnan(value)


def format_mean(value: float | None, *, decimals: int = 1) -> str:
    """Return a mean to one decimal (two in exports), or `HIDDEN_TEXT` for a missing one (rule 8)."""
    if value is None or _is_missing(value):
        return HIDDEN_TEXT
    text = f"{value:.{decimals}f}"
    # "-0.0" would say the hidden exact value was slightly negative.
    return text.lstrip("-") if float(text) == 0 else text


def format_percent(share: float | None) -> str:
    """Return a share (0..1) as a whole-number percentage such as "42%", or `HIDDEN_TEXT` (rule 8)."""
    if share is None or _is_missing(share):
        return HIDDEN_TEXT
    text = f"{share * 100:.0f}"
    return f"{text.lstrip('-') if float(text) == 0 else text}%"
