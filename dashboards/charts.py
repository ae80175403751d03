"""Chart and table models for the dashboards: geometry, colours, text and CSV rows from stored cells.

Nothing here queries the database. Every figure comes from a stored,
suppressed cell; a hidden cell becomes the one marker (PRIVACY.md rule 2) in
the chart, its tooltip, the table and the CSV, whatever its reason.
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import formats
from django.utils.translation import gettext as _

from analytics.engine.disclosure.presentation import HIDDEN_TEXT, format_mean

SCALE_LOW = 1.0
SCALE_HIGH = 5.0
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif"
INK = "#1b1f24"
MUTED = "#4a5360"
LINE = "#8a94a3"
# A colour-blind-safe diverging palette (ColorBrewer PuOr): orange is strain, purple is health.
# Each bin carries the text colour that keeps 4.5:1 contrast on it.
HEALTH_BINS: tuple[tuple[float, str, str], ...] = (
    (2.5, "#b35806", "#ffffff"),
    (3.0, "#f1a340", INK),
    (3.5, "#fee0b6", INK),
    (4.0, "#d8daeb", INK),
    (4.5, "#998ec3", INK),
    (99.0, "#542788", "#ffffff"),
)
# The same palette for strain ratings (5 = severe), so that orange is strain on every chart.
STRAIN_BINS: tuple[tuple[float, str, str], ...] = (
    (1.5, "#542788", "#ffffff"),
    (2.0, "#998ec3", INK),
    (2.5, "#d8daeb", INK),
    (3.0, "#fee0b6", INK),
    (3.5, "#f1a340", INK),
    (99.0, "#b35806", "#ffffff"),
)
BAND_COLOURS = {"concern": "#b35806", "watch": "#8073ac", "strength": "#542788"}


def number(value: float | None, *, decimals: int = 1, signed: bool = False) -> str:
    """Return a figure rounded as PRIVACY.md rule 8 says, localised, or the marker when missing."""
    if value is None:
        return HIDDEN_TEXT
    text = format_mean(value, decimals=decimals)
    localized = formats.number_format(Decimal(text), decimal_pos=decimals, use_l10n=True)
    if signed and Decimal(text) > 0:
        localized = f"+{localized}"
    return localized


def _colours(mean: float, bins: tuple[tuple[float, str, str], ...]) -> tuple[str, str]:
    for upper, fill, text in bins:
        if mean < upper:
            return fill, text
    return bins[-1][1], bins[-1][2]


def health_colours(mean: float) -> tuple[str, str]:
    """Return (fill, text colour) for a mean on the 1-5 health scale (5 = no strain)."""
    return _colours(mean, HEALTH_BINS)


def strain_colours(mean: float) -> tuple[str, str]:
    """Return (fill, text colour) for a strain rating (5 = severe strain)."""
    return _colours(mean, STRAIN_BINS)


def size_text(cell: dict[str, Any]) -> str:
    """Return a cell's n, or the label of a sensitive group's size such as "10 or more" (rule 7)."""
    if cell.get("n") is not None:
        return str(cell["n"])
    label = cell.get("n_label")
    if label:
        threshold = re.match(r"(\d+) or more$", label)
        return _("%(value)s or more") % {"value": threshold.group(1)} if threshold else str(label)
    return HIDDEN_TEXT


def hidden_tip(label: str) -> str:
    return _("%(label)s: hidden (too few respondents to show)") % {"label": label}


def cell_tip(label: str, cell: dict[str, Any], *, value_name: str | None = None) -> str:
    """Return the tooltip of a cell: value, n and 95% CI; for a hidden cell only the marker's wording."""
    if cell.get("suppressed") or cell.get("mean") is None:
        return hidden_tip(label)
    parts = [
        _("%(name)s %(value)s") % {"name": value_name or _("mean"), "value": number(cell["mean"])},
        _("n = %(size)s") % {"size": size_text(cell)},
    ]
    if cell.get("ci_low") is not None and cell.get("ci_high") is not None:
        parts.append(
            _("95%% CI %(low)s to %(high)s") % {"low": number(cell["ci_low"]), "high": number(cell["ci_high"])}
        )
    return f"{label}: " + "; ".join(parts)


@dataclass
class TableCell:
    text: str
    is_hidden: bool = False
    is_header: bool = False
    is_flagged: bool = False


@dataclass
class Table:
    caption: str
    header: list[str]
    rows: list[list[TableCell]]


@dataclass
class Chart:
    """One chart: its SVG drawing (`kind` picks the template), its table view and its CSV rows."""

    slug: str
    title: str
    kind: str
    drawing: dict[str, Any]
    table: Table
    csv_header: list[str]
    csv_rows: list[list[Any]]
    description: str = ""
    legend: list[dict[str, str]] = field(default_factory=list)
    query: str = ""
    # A narrower drawing shown instead on phones, when the kind has one.
    compact: dict[str, Any] | None = None


def csv_value(value: Any, *, is_hidden: bool) -> Any:
    """Return a CSV field: the marker for every statistic of a hidden cell, so all hidden rows look alike."""
    if is_hidden:
        return HIDDEN_TEXT
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


# --- Heatmap --------------------------------------------------------------------------------------

HEATMAP_CELL_WIDTH = 50
HEATMAP_CELL_HEIGHT = 34


CHARACTER_WIDTH = 6.6  # px per character at 13px, generous so that long Spanish names are not cut


# Heatmap labels longer than this are shortened on the drawing (full text in the tooltip and table).
HEATMAP_LABEL_CHARACTERS = 20


def shorten(label: str, characters: int) -> str:
    """Return `label` cut to `characters` with an ellipsis, at a word boundary where one is near."""
    if len(label) <= characters:
        return label
    cut = label[: characters - 1]
    space = cut.rfind(" ")
    if space >= characters // 2:
        cut = cut[:space]
    return cut.rstrip(" ,&·-") + "…"


def text_width(labels: list[str], *, minimum: int = 80) -> int:
    """Return room for the longest label, estimated from its length (the server has no font metrics)."""
    return max([minimum, *[int(len(label) * CHARACTER_WIDTH) + 16 for label in labels]])


def heatmap_drawing(
    *,
    chart_id: str,
    title: str,
    row_labels: list[str],
    column_labels: list[str],
    cells: list[list[dict[str, Any]]],
) -> dict[str, Any]:
    """Lay out a grid. Each cell dict needs `text`, `fill`, `text_fill`, `tip`, `is_hidden`, `is_outlined`.

    Long labels are shortened on the drawing (the full label is in each
    cell's tooltip, the `<title>` of the label and the table view), so that
    the cells start within a phone's width.
    """
    full_row_labels = row_labels
    row_labels = [shorten(label, HEATMAP_LABEL_CHARACTERS) for label in row_labels]
    full_column_labels = column_labels
    column_labels = [shorten(label, HEATMAP_LABEL_CHARACTERS) for label in column_labels]
    # The width estimate has no font metrics: a margin keeps wide glyphs clear of the left edge.
    label_width = text_width(row_labels) + 14
    # Column labels are turned 60°: they need about 0.87 of their length upwards and half to the right.
    longest = text_width(column_labels)
    header_height = int(longest * 0.87) + 20
    width = label_width + len(column_labels) * HEATMAP_CELL_WIDTH + longest // 2 + 10
    height = header_height + len(row_labels) * HEATMAP_CELL_HEIGHT + 10
    columns = [
        {
            "label": label,
            "full_label": full_column_labels[index],
            "x": label_width + index * HEATMAP_CELL_WIDTH + HEATMAP_CELL_WIDTH // 2,
            "y": header_height - 8,
        }
        for index, label in enumerate(column_labels)
    ]
    rows = []
    for row_index, label in enumerate(row_labels):
        y = header_height + row_index * HEATMAP_CELL_HEIGHT
        row_cells = []
        for column_index, cell in enumerate(cells[row_index]):
            x = label_width + column_index * HEATMAP_CELL_WIDTH
            row_cells.append(
                {
                    **cell,
                    "x": x,
                    "y": y,
                    "width": HEATMAP_CELL_WIDTH - 2,
                    "height": HEATMAP_CELL_HEIGHT - 2,
                    "text_x": x + (HEATMAP_CELL_WIDTH - 2) // 2,
                    "text_y": y + HEATMAP_CELL_HEIGHT // 2 + 4,
                }
            )
        rows.append(
            {
                "label": label,
                "full_label": full_row_labels[row_index],
                "label_x": label_width - 8,
                "label_y": y + 21,
                "cells": row_cells,
            }
        )
    return {"id": chart_id, "title": title, "width": width, "height": height, "columns": columns, "rows": rows}


def heatmap_cell(
    *, label: str, cell: dict[str, Any] | None, strain: bool = False, outlined: bool = False
) -> dict[str, Any]:
    """Return a heatmap cell from a stored cell; a missing or hidden one is the marker."""
    if cell is None or cell.get("suppressed") or cell.get("mean") is None:
        return {
            "text": HIDDEN_TEXT,
            "fill": "",
            "text_fill": INK,
            "tip": hidden_tip(label),
            "is_hidden": True,
            "is_outlined": False,
        }
    fill, text_fill = strain_colours(cell["mean"]) if strain else health_colours(cell["mean"])
    return {
        "text": number(cell["mean"]),
        "fill": fill,
        "text_fill": text_fill,
        "tip": cell_tip(label, cell),
        "is_hidden": False,
        "is_outlined": outlined,
    }


def health_legend(bins: tuple[tuple[float, str, str], ...] = HEALTH_BINS) -> list[dict[str, str]]:
    """Return the colour key of a binned palette: "below 2.5", "2.5 to 2.99", …, "4.5 or more"."""
    bounds = ["", *[str(upper) for upper, _fill, _text in bins[:-1]]]
    legend = []
    for index, (upper, fill, _text) in enumerate(bins):
        low = bounds[index]
        if not low:
            label = _("below %(value)s") % {"value": number(upper)}
        elif upper > SCALE_HIGH:
            label = _("%(value)s or more") % {"value": number(float(low))}
        else:
            label = _("%(low)s to %(high)s") % {"low": number(float(low)), "high": number(upper - 0.01, decimals=2)}
        legend.append({"fill": fill, "label": label})
    return legend


# --- Horizontal bars (health by area, participation) ----------------------------------------------

BAR_LABEL_WIDTH = 200
BAR_PLOT_WIDTH = 380
BAR_ROW_HEIGHT = 30
BAR_TOP = 40


def scale_x(value: float, *, low: float, high: float, left: int, width: int = BAR_PLOT_WIDTH) -> float:
    value = min(max(value, low), high)
    return round(left + (value - low) / (high - low) * width, 1)


COMPACT_WIDTH = 350
COMPACT_PLOT_WIDTH = 215
COMPACT_LINE = 15


def wrap(label: str, width: int) -> list[str]:
    """Return the label in lines that fit `width` pixels (estimated), breaking at spaces."""
    lines: list[str] = []
    current = ""
    for word in label.split(" "):
        candidate = f"{current} {word}".strip()
        if current and text_width([candidate], minimum=0) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return [*lines, current] if current else lines


def bars_drawing(
    *,
    chart_id: str,
    title: str,
    rows: list[dict[str, Any]],
    low: float,
    high: float,
    ticks: list[tuple[float, str]],
    references: list[tuple[float, str]] = (),  # type: ignore[assignment]
    compact: bool = False,
) -> dict[str, Any]:
    """Lay out horizontal bars. Each row needs `label`, `value` (None when hidden), `text`, `tip`, `fill`;
    optional `ci_low` / `ci_high` for a whisker.

    `compact` is the phone layout: each label on its own line(s) above its bar, 350 px wide.
    """
    if compact:
        # Leave room on the right for the longest value text.
        left = 14
        plot_width = min(
            COMPACT_PLOT_WIDTH, COMPACT_WIDTH - left - 8 - text_width([row["text"] for row in rows], minimum=0)
        )
    else:
        left, plot_width = max(BAR_LABEL_WIDTH, text_width([row["label"] for row in rows])), BAR_PLOT_WIDTH
    laid_out = []
    y = BAR_TOP
    for row in rows:
        lines = wrap(row["label"], COMPACT_WIDTH - 16) if compact else [row["label"]]
        label_height = len(lines) * COMPACT_LINE if compact else 0
        bar_y = y + label_height + (2 if compact else 6)
        height = label_height + (26 if compact else BAR_ROW_HEIGHT)
        item = {
            **row,
            "y": y,
            "label_lines": [
                {"text": line, "y": y + 12 + number * COMPACT_LINE if compact else y + 19}
                for number, line in enumerate(lines)
            ],
            "bar_y": bar_y,
            "bar_height": 16 if compact else BAR_ROW_HEIGHT - 12,
            "value_y": bar_y + 13,
            "x0": left,
            "text_x": round(left + plot_width + 8, 1),
            "is_hidden": row.get("value") is None and not row.get("is_sensitive"),
            "bar_width": plot_width,
        }
        if row.get("value") is not None:
            end = scale_x(row["value"], low=low, high=high, left=left, width=plot_width)
            item["bar_width"] = max(round(end - left, 1), 1)
            if row.get("ci_low") is not None and row.get("ci_high") is not None:
                item["ci_x1"] = scale_x(row["ci_low"], low=low, high=high, left=left, width=plot_width)
                item["ci_x2"] = scale_x(row["ci_high"], low=low, high=high, left=left, width=plot_width)
                item["ci_y"] = bar_y + item["bar_height"] // 2
        laid_out.append(item)
        y += height
    bottom = y
    return {
        "id": f"{chart_id}-compact" if compact else chart_id,
        "title": title,
        "width": COMPACT_WIDTH if compact else left + plot_width + 140,
        "height": bottom + 30,
        "rows": laid_out,
        "plot_x0": left,
        "plot_width": plot_width,
        "label_x": left if compact else left - 8,
        "label_anchor": "start" if compact else "end",
        "top": BAR_TOP - 8,
        "bottom": bottom,
        "ticks": [
            {"x": scale_x(value, low=low, high=high, left=left, width=plot_width), "label": label}
            for value, label in ticks
        ],
        "references": [
            {
                "x": scale_x(value, low=low, high=high, left=left, width=plot_width),
                "label": label,
                "label_y": BAR_TOP - 14 - 12 * (index % 2),
            }
            for index, (value, label) in enumerate(references)
        ],
    }


# --- Dot plot (gaps) -------------------------------------------------------------------------------

DOT_LABEL_WIDTH = 200
DOT_PLOT_WIDTH = 360
DOT_ROW_HEIGHT = 38


def dots_drawing(*, chart_id: str, title: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Lay out one row per visible group: its mean with the 95% CI, and the mean of everyone else."""

    left = max(DOT_LABEL_WIDTH, text_width([row["label"] for row in rows] + [row["area_label"] for row in rows]))

    def x(value: float) -> float:
        value = min(max(value, SCALE_LOW), SCALE_HIGH)
        return round(left + (value - SCALE_LOW) / (SCALE_HIGH - SCALE_LOW) * DOT_PLOT_WIDTH, 1)

    laid_out = []
    for index, row in enumerate(rows):
        y = 40 + index * DOT_ROW_HEIGHT
        cy = y + DOT_ROW_HEIGHT // 2
        item = {
            **row,
            "y": y,
            "cy": cy,
            "label_y": cy - 3,
            "area_y": cy + 12,
            "value_y": cy + 4,
            "x": x(row["mean"]),
            "rest_x": x(row["rest"]),
        }
        item["ci_x1"] = x(row["ci_low"]) if row.get("ci_low") is not None else item["x"]
        item["ci_x2"] = x(row["ci_high"]) if row.get("ci_high") is not None else item["x"]
        item["band_y"] = y + 1
        item["is_even"] = index % 2 == 0
        laid_out.append(item)
    bottom = 40 + len(rows) * DOT_ROW_HEIGHT
    return {
        "id": chart_id,
        "title": title,
        "width": left + DOT_PLOT_WIDTH + 130,
        "height": bottom + 30,
        "rows": laid_out,
        "plot_x0": left,
        "plot_width": DOT_PLOT_WIDTH,
        "row_height": DOT_ROW_HEIGHT - 2,
        "top": 30,
        "bottom": bottom,
        "value_x": left + DOT_PLOT_WIDTH + 12,
        "ticks": [{"x": x(float(value)), "label": number(float(value))} for value in (1, 2, 3, 4, 5)],
    }


# --- Line panels (trends) --------------------------------------------------------------------------

PANEL_WIDTH = 360
PANEL_HEIGHT = 190
PANEL_LEFT = 52
PANEL_RIGHT = 34
PANEL_TOP = 34
PANEL_BOTTOM = 40


def line_panel(
    *, title: str, labels: list[str], points: list[dict[str, Any]], bands: tuple[float, float]
) -> dict[str, Any]:
    """Lay out one small line chart over the waves; a hidden point breaks the line and shows the marker."""
    plot_width = PANEL_WIDTH - PANEL_LEFT - PANEL_RIGHT
    plot_height = PANEL_HEIGHT - PANEL_TOP - PANEL_BOTTOM
    step = plot_width / max(len(labels) - 1, 1)

    def y(value: float) -> float:
        value = min(max(value, SCALE_LOW), SCALE_HIGH)
        return round(PANEL_TOP + (SCALE_HIGH - value) / (SCALE_HIGH - SCALE_LOW) * plot_height, 1)

    laid_out = []
    segments: list[list[str]] = []
    current: list[str] = []
    for index, point in enumerate(points):
        px = round(PANEL_LEFT + index * step, 1) if len(labels) > 1 else PANEL_LEFT + plot_width / 2
        item = {**point, "x": px, "label": labels[index]}
        if point["is_hidden"]:
            item["y"] = PANEL_TOP + plot_height - 8
            if len(current) > 1:
                segments.append(current)
            current = []
        else:
            item["y"] = y(point["mean"])
            current.append(f"{px},{item['y']}")
        laid_out.append(item)
    if len(current) > 1:
        segments.append(current)
    return {
        "title": title,
        "width": PANEL_WIDTH,
        "height": PANEL_HEIGHT,
        "points": laid_out,
        "lines": [" ".join(segment) for segment in segments],
        "left": PANEL_LEFT,
        "right": PANEL_WIDTH - PANEL_RIGHT,
        "axis_y": PANEL_TOP + plot_height,
        "label_y": PANEL_TOP + plot_height + 18,
        "gridlines": [{"y": y(float(value)), "label": number(float(value))} for value in (1, 2, 3, 4, 5)],
        "bands": [{"y": y(value)} for value in bands],
    }
