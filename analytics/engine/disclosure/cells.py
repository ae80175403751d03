"""Published cells as sets of respondents, and the partitions ("parents") they belong to."""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Cell:
    """A candidate published cell: an id and its members, a boolean mask over the wave's respondents.

    `is_sensitive` cells need n ≥ k_sensitive (PRIVACY.md rule 1). `is_total`
    marks the overall total, which the audit suppresses only when nothing else
    is left.
    """

    id: str
    members: BoolArray
    is_sensitive: bool = False
    is_total: bool = False

    @property
    def n(self) -> int:
        """Return the number of members."""
        return int(np.count_nonzero(self.members))


@dataclass(frozen=True)
class Parent:
    """A partition whose children add up to a published total.

    A dimension's groups under the overall total, each row and each column of
    a cross table under its row or column total, a group and "everyone else"
    under the overall total. `total_id` is None when the children add up to a
    figure published elsewhere (or known anyway); the partition is then always
    treated as published.
    """

    total_id: str | None
    child_ids: tuple[str, ...]


def cells_from_masks(
    masks: Mapping[str, npt.ArrayLike],
    *,
    sensitive_ids: Collection[str] = (),
    total_ids: Collection[str] = (),
) -> list[Cell]:
    """Return one `Cell` per mask, in the mapping's order; every mask has one entry per respondent."""
    cells = [
        Cell(
            id=cell_id,
            members=np.asarray(mask, dtype=np.bool_),
            is_sensitive=cell_id in sensitive_ids,
            is_total=cell_id in total_ids,
        )
        for cell_id, mask in masks.items()
    ]
    unknown = (set(sensitive_ids) | set(total_ids)) - set(masks)
    if unknown:
        raise ValueError(f"unknown cell ids: {sorted(unknown)}")
    lengths = {cell.members.shape for cell in cells}
    if len(lengths) > 1 or any(len(shape) != 1 for shape in lengths):
        raise ValueError("every mask must be one-dimensional with one entry per respondent")
    return cells


def masks_for_combinations(frame: pd.DataFrame, columns: Sequence[str], *, prefix: str) -> dict[str, BoolArray]:
    """Return a mask per combination of `columns` present in `frame`, keyed `prefix` + the joined values.

    One call per cross table (e.g. sector × gender), or per set of
    quasi-identifiers of a microdata export (rule 15): each equivalence class of
    the export is then a cell of the joint audit. Missing values form no cell.
    """
    masks: dict[str, BoolArray] = {}
    keys = frame[list(columns)]
    present = keys.notna().all(axis=1).to_numpy()
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(keys[present].astype(str)), sort=True)
    full_codes = np.full(len(frame), -1, dtype=np.int64)
    full_codes[present] = codes
    for code, values in enumerate(uniques):
        label = "|".join(values) if isinstance(values, tuple) else str(values)
        masks[prefix + label] = full_codes == code
    return masks
