"""Scoring of responses: reverse keying, "don't know" as missing (DOMAIN.md, Scoring)."""

import numpy as np
import pandas as pd

NOT_APPLICABLE = "na"


def item_scores(raw: pd.Series, *, points: int, reverse: bool) -> pd.Series:
    """Return item scores on the item's own scale: reversed when keyed so, missing for "na".

    `raw` holds integers 1..points, "na", or missing values.
    """
    numeric = pd.to_numeric(raw.where(raw != NOT_APPLICABLE), errors="coerce").astype("float64")
    if reverse:
        numeric = (points + 1) - numeric
    return numeric.where(numeric.between(1, points), np.nan)
