"""What each dashboard page shows: reads stored results through analytics.selectors, builds charts.

Each builder runs a fixed number of queries, whatever the size of the wave.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from analytics import selectors
from analytics.engine.disclosure.presentation import HIDDEN_TEXT
from analytics.models import AnalyticsRun
from dashboards import charts
from dashboards.charts import Chart, Table, TableCell, csv_value, number, size_text
from dashboards.labels import Names
from surveys.models import Wave

GAPS_ON_OVERVIEW = 5
WEAKEST_AREAS = 3


class BadQuery(ValueError):
    """A query string outside the fixed set (PRIVACY.md rule 5)."""


@dataclass
class Context:
    wave: Wave
    run: AnalyticsRun | None
    names: Names

    @property
    def watch(self) -> float:
        return float(self.wave.coalition.watch_threshold)

    @property
    def strength(self) -> float:
        return float(self.wave.coalition.strength_threshold)

    def band(self, mean: float) -> tuple[str, str]:
        """Return the band's key and name for an unrounded mean (the coalition's own thresholds)."""
        if mean >= self.strength:
            return "strength", _("Strength")
        if mean >= self.watch:
            return "watch", _("Watch")
        return "concern", _("Concern")


def read_query(query: Any, allowed: dict[str, list[str]]) -> dict[str, str]:
    """Return the page's parameters, refusing unknown, repeated, empty or out-of-set ones (rule 5)."""
    unknown = set(query) - set(allowed)
    if unknown:
        raise BadQuery(_("Unknown parameter: %(names)s.") % {"names": ", ".join(sorted(unknown))})
    values: dict[str, str] = {}
    for name, choices in allowed.items():
        given = query.getlist(name)
        if not given:
            values[name] = choices[0]
            continue
        if len(given) != 1 or given[0] not in choices:
            raise BadQuery(_("Choose %(name)s from the list.") % {"name": name})
        values[name] = given[0]
    return values


def _areas(context: Context) -> list[str]:
    return list(context.names.areas)


def _index(cells: list[dict[str, Any]], **match: Any) -> dict[tuple[str, ...], dict[str, Any]]:
    return {
        tuple(cell["groups"]): cell
        for cell in cells
        if all((tuple(cell[key]) if key == "dimensions" else cell[key]) == value for key, value in match.items())
    }


def _group_order(context: Context, dimension: str, cells: list[dict[str, Any]]) -> list[str]:
    if dimension == "sector":
        return list(context.names.sectors)
    seen: list[str] = []
    for cell in cells:
        if cell["groups"] and cell["groups"][0] not in seen:
            seen.append(cell["groups"][0])
    return seen


def _stat_cells(cell: dict[str, Any] | None, *fields: str, decimals: int = 1, signed: bool = False) -> list[TableCell]:
    hidden = cell is None or bool(cell["suppressed"])
    return [
        TableCell(HIDDEN_TEXT if hidden else number(cell[name], decimals=decimals, signed=signed), is_hidden=hidden)  # type: ignore[index]
        for name in fields
    ]


def _ci_text(cell: dict[str, Any]) -> str:
    if cell.get("ci_low") is None or cell.get("ci_high") is None:
        return HIDDEN_TEXT
    return _("%(low)s to %(high)s") % {"low": number(cell["ci_low"]), "high": number(cell["ci_high"])}


# --- Overview -------------------------------------------------------------------------------------


def overview(context: Context) -> dict[str, Any]:
    """Health by area with bands, participation per sector, the weakest areas and the largest flagged gaps."""
    assert context.run is not None  # noqa: S101 - views only build result pages for a published run
    names = context.names
    dimensions = names.dimensions()
    area_cells = selectors.breakdown_cells_for_tables(
        run=context.run, table_keys=[(), *[(dimension,) for dimension in dimensions]], measure="area"
    )
    overall_cells = selectors.breakdown_cells_for_tables(
        run=context.run, table_keys=[(), ("sector",)], measure="overall"
    )
    invited = selectors.sector_invited_counts(wave=context.wave)

    overall_by_area = {cell["area"]: cell for cell in area_cells if not cell["dimensions"]}
    health_rows = []
    for area in _areas(context):
        cell = overall_by_area.get(area)
        visible = cell is not None and not cell["suppressed"] and cell["mean"] is not None
        row: dict[str, Any] = {"slug": area, "label": names.area(area), "cell": cell}
        if visible:
            assert cell is not None  # noqa: S101
            band, band_name = context.band(cell["mean"])
            row.update(
                value=cell["mean"],
                ci_low=cell["ci_low"],
                ci_high=cell["ci_high"],
                text=f"{number(cell['mean'])} · {band_name}",
                fill=charts.BAND_COLOURS[band],
                band=band,
                band_name=band_name,
                tip=charts.cell_tip(names.area(area), cell),
            )
        else:
            row.update(
                value=None, text=HIDDEN_TEXT, fill="", band="", band_name="", tip=charts.hidden_tip(row["label"])
            )
        health_rows.append(row)
    health_rows.sort(key=lambda row: (row["value"] is None, row["value"] or 0))
    health = Chart(
        slug="health",
        title=_("Health by strain area"),
        description=_(
            "Mean area score on a 1-5 scale (5 = no strain), weakest first, with its 95%% confidence interval. "
            "Bands use the coalition's thresholds: strength from %(strength)s, watch from %(watch)s, "
            "concern below."
        )
        % {"strength": number(context.strength, decimals=2), "watch": number(context.watch, decimals=2)},
        kind="bars",
        drawing=charts.bars_drawing(
            chart_id="health",
            title=_("Health by strain area"),
            rows=health_rows,
            low=charts.SCALE_LOW,
            high=charts.SCALE_HIGH,
            ticks=[(float(value), number(float(value))) for value in (1, 2, 3, 4, 5)],
            references=[(context.watch, _("Watch")), (context.strength, _("Strength"))],
        ),
        compact=charts.bars_drawing(
            compact=True,
            chart_id="health",
            title=_("Health by strain area"),
            rows=health_rows,
            low=charts.SCALE_LOW,
            high=charts.SCALE_HIGH,
            ticks=[(float(value), number(float(value))) for value in (1, 2, 3, 4, 5)],
            references=[(context.watch, _("Watch")), (context.strength, _("Strength"))],
        ),
        table=Table(
            caption=_("Health by strain area"),
            header=[_("Strain area"), _("Mean (1-5)"), _("95% CI"), _("n"), _("Band")],
            rows=[
                [TableCell(row["label"], is_header=True)]
                + (
                    [
                        TableCell(number(row["value"])),
                        TableCell(_ci_text(row["cell"])),
                        TableCell(size_text(row["cell"])),
                        TableCell(row["band_name"]),
                    ]
                    if row["value"] is not None
                    else [TableCell(HIDDEN_TEXT, is_hidden=True) for _each in range(4)]
                )
                for row in health_rows
            ],
        ),
        csv_header=["area", "area_name", "mean", "ci_low", "ci_high", "n", "band"],
        csv_rows=[
            [row["slug"], row["label"]]
            + [
                csv_value(value, is_hidden=row["value"] is None)
                for value in (
                    (row["cell"] or {}).get("mean"),
                    (row["cell"] or {}).get("ci_low"),
                    (row["cell"] or {}).get("ci_high"),
                    size_text(row["cell"] or {}) if row["value"] is not None else None,
                    row["band"],
                )
            ]
            for row in health_rows
        ],
    )

    # Participation: respondents with a score per sector over invitations, as whole percentages.
    overall = next((cell for cell in overall_cells if not cell["dimensions"]), None)
    sector_rows = []
    for slug in names.sectors:
        cell = next(
            (each for each in overall_cells if each["dimensions"] == ["sector"] and each["groups"] == [slug]), None
        )
        label = names.sector(slug)
        count = invited.get(slug, 0)
        row = {"slug": slug, "label": label, "invited": count, "cell": cell}
        if cell is None or cell["suppressed"]:
            row.update(value=None, text=HIDDEN_TEXT, fill="", tip=charts.hidden_tip(label), responses=HIDDEN_TEXT)
        elif cell["n"] is None:
            # A sensitive group's size shows only as "10 or more" (rule 7): no rate, which would give n back.
            size = size_text(cell)
            row.update(value=None, text=size, fill="", tip=f"{label}: {size}", responses=size)
            row["is_sensitive"] = True
        else:
            rate = round(100 * cell["n"] / count) if count else None
            row.update(
                value=rate,
                text=f"{rate}%" if rate is not None else HIDDEN_TEXT,
                fill=charts.BAND_COLOURS["strength"],
                responses=str(cell["n"]),
                tip=_("%(label)s: %(rate)s%% (%(n)s of %(invited)s invited)")
                % {"label": label, "rate": rate, "n": cell["n"], "invited": count},
            )
        sector_rows.append(row)
    participation = Chart(
        slug="participation-by-sector",
        title=_("Participation by sector"),
        description=_("Respondents with a score as a share of the members invited, in whole percentages."),
        kind="bars",
        drawing=charts.bars_drawing(
            chart_id="participation-by-sector",
            title=_("Participation by sector"),
            rows=sector_rows,
            low=0,
            high=100,
            ticks=[(float(value), f"{value}%") for value in (0, 25, 50, 75, 100)],
        ),
        compact=charts.bars_drawing(
            compact=True,
            chart_id="participation-by-sector",
            title=_("Participation by sector"),
            rows=sector_rows,
            low=0,
            high=100,
            ticks=[(float(value), f"{value}%") for value in (0, 25, 50, 75, 100)],
        ),
        table=Table(
            caption=_("Participation by sector"),
            header=[_("Sector"), _("Invited"), _("Respondents"), _("Rate")],
            rows=[
                [
                    TableCell(row["label"], is_header=True),
                    TableCell(str(row["invited"])),
                    TableCell(row["responses"], is_hidden=row["responses"] == HIDDEN_TEXT),
                    TableCell(
                        row["text"] if row["value"] is not None else HIDDEN_TEXT,
                        is_hidden=row["value"] is None,
                    ),
                ]
                for row in sector_rows
            ],
        ),
        csv_header=["sector", "sector_name", "invited", "respondents", "rate_percent"],
        csv_rows=[
            [row["slug"], row["label"], row["invited"]]
            + [
                csv_value(row["responses"], is_hidden=row["responses"] == HIDDEN_TEXT),
                csv_value(row["value"], is_hidden=row["value"] is None),
            ]
            for row in sector_rows
        ],
    )

    weakest = []
    for row in [row for row in health_rows if row["value"] is not None][:WEAKEST_AREAS]:
        family, practice = names.practice(row["slug"])
        weakest.append({**row, "mean_text": number(row["value"]), "family": family, "practice": practice})

    flagged = [cell for cell in area_cells if cell["dimensions"] and cell["flag"] and not cell["suppressed"]]
    flagged.sort(key=lambda cell: -abs(cell["gap"] or 0))
    sentences = []
    for cell in flagged[:GAPS_ON_OVERVIEW]:
        dimension = cell["dimensions"][0]
        group = names.group(dimension, cell["groups"][0])
        values = {"group": group, "area": names.area(cell["area"]), "points": number(abs(cell["gap"]))}
        if dimension != "sector":
            values["group"] = f"{names.dimension(dimension)}: {group}"
        if cell["gap"] < 0:
            text = _("%(group)s rate %(area)s %(points)s points lower than everyone else.") % values
        else:
            text = _("%(group)s rate %(area)s %(points)s points higher than everyone else.") % values
        sentences.append({"text": text, "cell": cell, "dimension": dimension})

    return {
        "charts": [health, participation],
        "overall": overall,
        "overall_mean": number(overall["mean"]) if overall and not overall["suppressed"] else HIDDEN_TEXT,
        "respondents": overall["n"] if overall and not overall["suppressed"] else None,
        "invited": context.wave.invited_count,
        "response_rate": (
            round(100 * overall["n"] / context.wave.invited_count)
            if overall and overall["n"] and context.wave.invited_count
            else None
        ),
        "weakest": weakest,
        "gaps": sentences,
    }


# --- Heatmap --------------------------------------------------------------------------------------


def heatmap(context: Context, query: Any) -> dict[str, Any]:
    """Group × strain area for one dimension of the fixed set, with everyone on the first row."""
    assert context.run is not None  # noqa: S101
    names = context.names
    dimensions = names.dimensions()
    params = read_query(query, {"dimension": dimensions})
    dimension = params["dimension"]
    cells = selectors.breakdown_cells_for_tables(run=context.run, table_keys=[(), (dimension,)], measure="area")
    areas = _areas(context)
    everyone = {cell["area"]: cell for cell in cells if not cell["dimensions"]}
    by_group: dict[str, dict[str, dict[str, Any]]] = {}
    for cell in cells:
        if cell["dimensions"]:
            by_group.setdefault(cell["groups"][0], {})[cell["area"]] = cell
    groups = _group_order(context, dimension, [cell for cell in cells if cell["dimensions"]])
    row_keys: list[tuple[str, str]] = [("", _("Everyone"))] + [
        (group, names.group(dimension, group)) for group in groups
    ]
    area_labels = [names.area(area) for area in areas]
    grid = []
    table_rows = []
    csv_rows = []
    for group, group_label in row_keys:
        source = everyone if not group else by_group.get(group, {})
        grid.append(
            [
                charts.heatmap_cell(label=f"{group_label} · {area_label}", cell=source.get(area))
                for area, area_label in zip(areas, area_labels, strict=True)
            ]
        )
        for area, area_label in zip(areas, area_labels, strict=True):
            stored: dict[str, Any] = source.get(area) or {}
            hidden = not stored or bool(stored["suppressed"])
            table_rows.append(
                [TableCell(group_label, is_header=True), TableCell(area_label)]
                + _stat_cells(stored or None, "mean")
                + [
                    TableCell(HIDDEN_TEXT if hidden else _ci_text(stored), is_hidden=hidden),
                    TableCell(HIDDEN_TEXT if hidden else size_text(stored), is_hidden=hidden),
                ]
            )
            csv_rows.append(
                [dimension if group else "overall", group, group_label, area, area_label]
                + [csv_value(stored.get(name), is_hidden=hidden) for name in ("mean", "ci_low", "ci_high")]
                + [csv_value(None if hidden else size_text(stored), is_hidden=hidden)]
            )
    title = _("%(dimension)s × strain area") % {"dimension": names.dimension(dimension)}
    chart = Chart(
        slug="heatmap",
        title=title,
        description=_("Mean area score on a 1-5 scale (5 = no strain). Darker orange is more strain."),
        kind="heatmap",
        drawing=charts.heatmap_drawing(
            chart_id="heatmap",
            title=title,
            row_labels=[label for _group, label in row_keys],
            column_labels=area_labels,
            cells=grid,
        ),
        table=Table(
            caption=title,
            header=[names.dimension(dimension), _("Strain area"), _("Mean (1-5)"), _("95% CI"), _("n")],
            rows=table_rows,
        ),
        csv_header=["dimension", "group", "group_name", "area", "area_name", "mean", "ci_low", "ci_high", "n"],
        csv_rows=csv_rows,
        legend=charts.health_legend(),
        query=urlencode({"dimension": dimension}),
    )
    return {
        "charts": [chart],
        "dimension": dimension,
        "dimension_choices": [(slug, names.dimension(slug)) for slug in dimensions],
    }


# --- Sector-pair matrix ----------------------------------------------------------------------------


def pairs(context: Context, query: Any) -> dict[str, Any]:
    """Rater sector × rated sector strain, asymmetric pairs outlined and listed."""
    assert context.run is not None  # noqa: S101
    read_query(query, {})
    names = context.names
    cells = selectors.pair_cells(run=context.run)
    index = {(cell["rater_sector"], cell["rated_sector"]): cell for cell in cells}
    sectors = list(names.sectors)
    labels = [names.sector(slug) for slug in sectors]
    grid = []
    table_rows = []
    csv_rows = []
    asymmetric = []
    for rater, rater_label in zip(sectors, labels, strict=True):
        row = []
        for rated, rated_label in zip(sectors, labels, strict=True):
            cell = index.get((rater, rated))
            hidden = cell is None or bool(cell["suppressed"]) or cell["mean"] is None
            label = _("%(rater)s → %(rated)s") % {"rater": rater_label, "rated": rated_label}
            outlined = bool(cell and not hidden and cell["flag"])
            shown = charts.heatmap_cell(label=label, cell=cell, strain=True, outlined=outlined)
            if not hidden:
                assert cell is not None  # noqa: S101
                shown["tip"] = f"{label}: " + "; ".join(
                    [
                        _("strain %(value)s") % {"value": number(cell["mean"])},
                        _("n = %(size)s") % {"size": size_text(cell)},
                    ]
                    + (
                        [_("asymmetry %(value)s") % {"value": number(cell["asymmetry"])}]
                        if cell["asymmetry"] is not None
                        else []
                    )
                )
            row.append(shown)
            table_rows.append(
                [
                    TableCell(rater_label, is_header=True),
                    TableCell(rated_label),
                    TableCell(HIDDEN_TEXT if hidden else number(cell["mean"]), is_hidden=hidden),  # type: ignore[index]
                    TableCell(HIDDEN_TEXT if hidden else size_text(cell), is_hidden=hidden),  # type: ignore[arg-type]
                    TableCell(
                        HIDDEN_TEXT if hidden else number(cell["asymmetry"]),  # type: ignore[index]
                        is_hidden=hidden,
                        is_flagged=outlined,
                    ),
                ]
            )
            csv_rows.append(
                [rater, rater_label, rated, rated_label]
                + [
                    csv_value(None if hidden else cell[name], is_hidden=hidden)  # type: ignore[index]
                    for name in ("mean", "n", "asymmetry", "flag")
                ]
            )
            if outlined and (rated, rater) in index:
                assert cell is not None  # noqa: S101
                back = index[(rated, rater)]
                if cell["mean"] > (back["mean"] or 0):
                    asymmetric.append(
                        _(
                            "%(rater)s rate their relationship with %(rated)s at %(value)s; "
                            "%(rated)s rate it at %(back)s (a difference of %(difference)s)."
                        )
                        % {
                            "rater": rater_label,
                            "rated": rated_label,
                            "value": number(cell["mean"]),
                            "back": number(back["mean"]),
                            "difference": number(cell["asymmetry"]),
                        }
                    )
        grid.append(row)
    title = _("Strain between sectors (rater → rated)")
    chart = Chart(
        slug="pairs",
        title=title,
        description=_(
            "Each row is how people in one sector rate their working relationship with each sector in the columns, "
            "from 1 (not at all strained) to 5 (severely strained). Darker orange is more strain. "
            "Outlined cells are asymmetric pairs: the two sides' ratings differ by 1.0 or more."
        ),
        kind="heatmap",
        drawing=charts.heatmap_drawing(
            chart_id="pairs", title=title, row_labels=labels, column_labels=labels, cells=grid
        ),
        table=Table(
            caption=title,
            header=[_("Rater sector"), _("Rated sector"), _("Strain (1-5)"), _("n"), _("Asymmetry")],
            rows=table_rows,
        ),
        csv_header=["rater_sector", "rater_name", "rated_sector", "rated_name", "mean", "n", "asymmetry", "flag"],
        csv_rows=csv_rows,
        legend=charts.health_legend(charts.STRAIN_BINS),
    )
    return {"charts": [chart], "asymmetric": asymmetric}


# --- Gaps -----------------------------------------------------------------------------------------


def _gap_ci_text(cell: dict[str, Any]) -> str:
    """Return the 95% interval of a gap (Welch), signed; results stored before engine 2026.11.2 have none."""
    if cell.get("gap_ci_low") is None or cell.get("gap_ci_high") is None:
        return _("not computed")
    return _("%(low)s to %(high)s") % {
        "low": number(cell["gap_ci_low"], signed=True),
        "high": number(cell["gap_ci_high"], signed=True),
    }


def gaps(context: Context, query: Any) -> dict[str, Any]:
    """Each group's difference from everyone else, per area, flagged ones first."""
    assert context.run is not None  # noqa: S101
    names = context.names
    dimensions = names.dimensions()
    params = read_query(query, {"dimension": dimensions})
    dimension = params["dimension"]
    cells = selectors.breakdown_cells_for_tables(run=context.run, table_keys=[(dimension,)], measure="area")
    area_order = {area: index for index, area in enumerate(_areas(context))}
    visible = [
        cell for cell in cells if not cell["suppressed"] and cell["mean"] is not None and cell["gap"] is not None
    ]
    visible.sort(key=lambda cell: (not cell["flag"], -abs(cell["gap"]), area_order.get(cell["area"], 0)))
    hidden = [cell for cell in cells if cell not in visible]
    hidden.sort(key=lambda cell: area_order.get(cell["area"], 0))
    rows = []
    for cell in visible:
        group = names.group(dimension, cell["groups"][0])
        label = f"{group} · {names.area(cell['area'])}"
        rows.append(
            {
                "label": group,
                "area_label": names.area(cell["area"]),
                "mean": cell["mean"],
                "rest": cell["mean"] - cell["gap"],
                "ci_low": cell["ci_low"],
                "ci_high": cell["ci_high"],
                "is_flagged": bool(cell["flag"]),
                "text": number(cell["gap"], signed=True),
                "tip": charts.cell_tip(label, cell)
                + "; "
                + _("everyone else %(rest)s; gap %(gap)s (95%% CI %(gap_ci)s)")
                % {
                    "rest": number(cell["mean"] - cell["gap"]),
                    "gap": number(cell["gap"], signed=True),
                    "gap_ci": _gap_ci_text(cell),
                },
            }
        )
    title = _("Gaps by %(dimension)s") % {"dimension": names.dimension(dimension)}
    table_rows = []
    csv_rows = []
    for cell in visible + hidden:
        is_hidden = cell["suppressed"] or cell["mean"] is None or cell["gap"] is None
        group = names.group(dimension, cell["groups"][0])
        area = names.area(cell["area"])
        if is_hidden:
            table_rows.append(
                [TableCell(group, is_header=True), TableCell(area)]
                + [TableCell(HIDDEN_TEXT, is_hidden=True) for _each in range(7)]
            )
        else:
            table_rows.append(
                [
                    TableCell(group, is_header=True),
                    TableCell(area),
                    TableCell(number(cell["gap"], signed=True), is_flagged=bool(cell["flag"])),
                    TableCell(_gap_ci_text(cell)),
                    TableCell(number(cell["mean"])),
                    TableCell(_ci_text(cell)),
                    TableCell(number(cell["mean"] - cell["gap"])),
                    TableCell(size_text(cell)),
                    TableCell(_("yes") if cell["flag"] else _("no")),
                ]
            )
        csv_rows.append(
            [dimension, cell["groups"][0], group, cell["area"], area]
            + [
                csv_value(None if is_hidden else cell[name], is_hidden=is_hidden)
                for name in ("gap", "gap_ci_low", "gap_ci_high", "mean", "ci_low", "ci_high", "q_value", "flag")
            ]
            + [csv_value(None if is_hidden else size_text(cell), is_hidden=is_hidden)]
        )
    chart = Chart(
        slug="gaps",
        title=title,
        description=_(
            "Each row is one group in one strain area: the dot is the group's mean with its 95%% confidence interval, "
            "the bar is the mean of everyone else. A filled dot is a flagged gap: %(threshold)s points or more, and "
            "significant after correcting for the number of comparisons. Flagged gaps come first."
        )
        % {"threshold": number(float(context.wave.coalition.gap_threshold), decimals=2)},
        kind="dots",
        drawing=charts.dots_drawing(chart_id="gaps", title=title, rows=rows),
        table=Table(
            caption=title,
            header=[
                names.dimension(dimension),
                _("Strain area"),
                _("Gap"),
                _("Gap 95% CI"),
                _("Group mean"),
                _("95% CI"),
                _("Everyone else"),
                _("n"),
                _("Flagged"),
            ],
            rows=table_rows,
        ),
        csv_header=[
            "dimension",
            "group",
            "group_name",
            "area",
            "area_name",
            "gap",
            "gap_ci_low",
            "gap_ci_high",
            "mean",
            "ci_low",
            "ci_high",
            "q_value",
            "flag",
            "n",
        ],
        csv_rows=csv_rows,
        query=urlencode({"dimension": dimension}),
    )
    return {
        "charts": [chart],
        "dimension": dimension,
        "dimension_choices": [(slug, names.dimension(slug)) for slug in dimensions],
        "hidden_count": len(hidden),
        "flagged_count": sum(1 for cell in visible if cell["flag"]),
    }


# --- Trends ---------------------------------------------------------------------------------------


def trends(context: Context, query: Any) -> dict[str, Any]:
    """Each area across the closed waves: overall (one panel per area) or per sector for one area."""
    assert context.run is not None  # noqa: S101
    names = context.names
    areas = _areas(context)
    params = read_query(query, {"view": ["overall", "sector"], "area": areas})
    view, area = params["view"], params["area"]
    if view == "overall":
        waves, series = selectors.trend_series(
            wave=context.wave, table_filter=selectors.TableFilter(dimensions=(), measure="area")
        )
        by_key = {each["area"]: each for each in series}
        panels_for = [(names.area(slug), slug, by_key.get(slug)) for slug in areas]
        title = _("Strain areas across waves, everyone")
    else:
        waves, series = selectors.trend_series(
            wave=context.wave, table_filter=selectors.TableFilter(dimensions=("sector",), measure="area", area=area)
        )
        by_key = {each["groups"][0]: each for each in series}
        panels_for = [(names.sector(slug), slug, by_key.get(slug)) for slug in names.sectors]
        title = _("%(area)s across waves, by sector") % {"area": names.area(area)}
    labels = [each.label for each in waves]
    panels = []
    table_rows = []
    csv_rows = []
    for panel_title, key, each in panels_for:
        points = []
        for index, wave in enumerate(waves):
            point = each["points"][index] if each else {"suppressed": True}
            is_hidden = bool(point["suppressed"])
            label = f"{panel_title} · {wave.label}"
            if is_hidden:
                tip = charts.hidden_tip(label)
            else:
                tip = charts.cell_tip(label, point)
                if point.get("change") is not None:
                    tip += "; " + _("change %(change)s") % {"change": number(point["change"], signed=True)}
            points.append(
                {"is_hidden": is_hidden, "mean": point.get("mean"), "text": number(point.get("mean")), "tip": tip}
            )
            table_rows.append(
                [TableCell(panel_title, is_header=True), TableCell(wave.label)]
                + (
                    [TableCell(HIDDEN_TEXT, is_hidden=True) for _each in range(4)]
                    if is_hidden
                    else [
                        TableCell(number(point["mean"])),
                        TableCell(_ci_text(point)),
                        TableCell(size_text(point)),
                        TableCell(number(point["change"], signed=True) if point.get("change") is not None else ""),
                    ]
                )
            )
            csv_rows.append(
                [key if view == "sector" else "", area if view == "sector" else key, wave.label]
                + [
                    csv_value(None if is_hidden else point.get(name), is_hidden=is_hidden)
                    for name in ("mean", "ci_low", "ci_high", "change")
                ]
                + [csv_value(None if is_hidden else size_text(point), is_hidden=is_hidden)]
            )
        panels.append(
            charts.line_panel(title=panel_title, labels=labels, points=points, bands=(context.watch, context.strength))
        )
    columns = 2
    combined = {
        "id": "trends",
        "title": title,
        "width": charts.PANEL_WIDTH * columns,
        "height": charts.PANEL_HEIGHT * -(-len(panels) // columns) + 10,
        "panels": [
            {
                **panel,
                "index": index,
                "x": (index % columns) * charts.PANEL_WIDTH,
                "y": (index // columns) * charts.PANEL_HEIGHT,
            }
            for index, panel in enumerate(panels)
        ],
    }
    chart = Chart(
        slug="trends",
        title=title,
        description=_(
            "Mean area score on a 1-5 scale (5 = no strain) in each closed wave. Dashed lines are the watch and "
            "strength thresholds. A hidden value breaks the line and shows the marker at the bottom."
        ),
        kind="trends",
        drawing=combined,
        table=Table(
            caption=title,
            header=[
                _("Sector") if view == "sector" else _("Strain area"),
                _("Wave"),
                _("Mean (1-5)"),
                _("95% CI"),
                _("n"),
                pgettext("amount of change between waves", "Change"),
            ],
            rows=table_rows,
        ),
        csv_header=["sector", "area", "wave", "mean", "ci_low", "ci_high", "change", "n"],
        csv_rows=csv_rows,
        query=urlencode({"view": view, "area": area}),
    )
    return {
        "charts": [chart],
        "view": view,
        "area": area,
        "area_choices": [(slug, names.area(slug)) for slug in areas],
    }


# --- Participation while open ---------------------------------------------------------------------


def participation(context: Context, query: Any) -> dict[str, Any]:
    """Overall participation only, rounded down to a multiple of 5 (PRIVACY.md rule 6)."""
    read_query(query, {})
    figures = selectors.wave_participation_rounded(wave=context.wave)
    invited = figures["invited"] or 0
    responses = figures["responses"] or 0
    title = _("Participation so far")
    row = {
        "label": _("Responses (rounded down to a multiple of 5)"),
        "value": float(figures["rate"]) if figures["rate"] is not None else None,
        "text": _("%(responses)s or more of %(invited)s") % {"responses": responses, "invited": invited},
        "fill": charts.BAND_COLOURS["strength"],
        "tip": _("%(responses)s or more of %(invited)s invited (%(rate)s%% or more)")
        % {"responses": responses, "invited": invited, "rate": figures["rate"]},
    }
    chart = Chart(
        slug="participation",
        title=title,
        description=_(
            "Only this overall figure is shown while the wave is open; group results appear after it closes."
        ),
        kind="bars",
        drawing=charts.bars_drawing(
            chart_id="participation",
            title=title,
            rows=[row],
            low=0,
            high=100,
            ticks=[(float(value), f"{value}%") for value in (0, 25, 50, 75, 100)],
        ),
        compact=charts.bars_drawing(
            compact=True,
            chart_id="participation",
            title=title,
            rows=[row],
            low=0,
            high=100,
            ticks=[(float(value), f"{value}%") for value in (0, 25, 50, 75, 100)],
        ),
        table=Table(
            caption=title,
            header=[_("Invited"), _("Responses (rounded down to a multiple of 5)"), _("Rate")],
            rows=[[TableCell(str(invited)), TableCell(str(responses)), TableCell(f"{figures['rate']}%")]],
        ),
        csv_header=["invited", "responses_rounded_down_to_5", "rate_percent"],
        csv_rows=[[invited, responses, figures["rate"]]],
    )
    return {"charts": [chart], "figures": figures}
