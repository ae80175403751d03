"""Leader dashboards: access per role, constant queries, figures equal to the API's, the one hidden marker, CSVs."""

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.conf import LazySettings
from django.test import Client
from django.urls import reverse

from analytics.engine.disclosure.presentation import HIDDEN_TEXT, format_mean
from surveys.models import Wave
from tests.dashboards.conftest import Site

pytestmark = pytest.mark.django_db

RESULT_PAGES = ["overview", "heatmap", "pairs", "gaps", "trends"]


class TableReader(HTMLParser):
    """Collect the rows of every `<table data-chart=…>` as lists of (tag, class, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[tuple[str, str, str]]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._cell_tag = ""
        self._cell_class = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table" and attributes.get("data-chart"):
            self._table = str(attributes["data-chart"])
            self.tables[self._table] = []
        elif self._table and tag == "tr":
            self.tables[self._table].append([])
        elif self._table and tag in ("td", "th") and self.tables[self._table]:
            self._cell, self._cell_tag, self._cell_class = [], tag, attributes.get("class") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append((self._cell_tag, self._cell_class, "".join(self._cell).strip()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables_of(content: bytes) -> dict[str, list[list[tuple[str, str, str]]]]:
    reader = TableReader()
    reader.feed(content.decode())
    return {name: [row for row in rows if row] for name, rows in reader.tables.items()}


def client_for(site: Site, role: str) -> Client:
    client = Client()
    user = site.users[role]
    if user is not None:
        client.force_login(user)
    return client


def page_url(site: Site, page: str, *, wave: Any = None) -> str:
    wave = wave or site.wave
    if page == "index":
        return reverse("dashboards:index")
    return reverse(f"dashboards:{page}", args=[wave.pk])


# --- Access -----------------------------------------------------------------------------------------

ALL_PAGES = ["index", *RESULT_PAGES, "participation"]


@pytest.mark.parametrize("page", ALL_PAGES)
@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("leader", 200),
        ("steward", 200),
        ("researcher", 200),
        ("member", 403),
        ("outsider", 403),
        ("other-leader", 404),
        ("anonymous", 302),
    ],
)
def test_each_page_answers_each_role_as_its_grant_allows(site: Site, page: str, role: str, expected: int) -> None:
    wave = site.open_wave if page == "participation" else site.wave
    response = client_for(site, role).get(page_url(site, page, wave=wave))
    if page == "index" and role == "other-leader":
        expected = 200  # the index lists only the other coalition's waves
    assert response.status_code == expected
    if expected == 302:
        assert response["Location"].startswith("/accounts/login/?next=")
    if expected != 200:
        assert b"3.1" not in response.content
        assert b"Riverside" not in response.content


def test_the_index_lists_only_the_users_coalitions(site: Site) -> None:
    response = client_for(site, "other-leader").get(reverse("dashboards:index"))
    assert response.status_code == 200
    assert b"Riverside Partnership" not in response.content
    assert b"2026 Q3" not in response.content


@pytest.mark.parametrize("chart", ["health", "heatmap", "pairs", "gaps", "trends"])
@pytest.mark.parametrize("role", ["member", "outsider", "anonymous", "other-leader"])
def test_downloads_refuse_anyone_without_a_grant(site: Site, chart: str, role: str) -> None:
    for kind in ("csv", "svg"):
        response = client_for(site, role).get(reverse("dashboards:download", args=[site.wave.pk, chart, kind]))
        assert (
            response.status_code
            in {"member": (403,), "outsider": (403,), "anonymous": (302,), "other-leader": (404,)}[role]
        )
        assert b"," not in response.content or response.status_code == 302


# --- Queries ----------------------------------------------------------------------------------------

QUERIES = {
    "overview": 9,
    "heatmap": 7,
    "pairs": 7,
    "gaps": 7,
    "trends": 9,
    "participation": 6,
}


@pytest.mark.parametrize("page", list(QUERIES))
@pytest.mark.parametrize("fixture", ["site", "big_site"])
def test_each_page_runs_a_fixed_number_of_queries_whatever_the_wave_size(
    request: pytest.FixtureRequest, django_assert_num_queries: Any, page: str, fixture: str
) -> None:
    site: Site = request.getfixturevalue(fixture)
    wave = site.open_wave if page == "participation" else site.wave
    client = client_for(site, "leader")
    with django_assert_num_queries(QUERIES[page]):
        response = client.get(page_url(site, page, wave=wave))
    assert response.status_code == 200


# --- Figures equal the API's ------------------------------------------------------------------------


def api(client: Client, site: Site, endpoint: str, **query: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/waves/{site.wave.pk}/{endpoint}/", query)
    assert response.status_code == 200
    return response.json()


def test_heatmap_shows_the_apis_means_and_sizes_and_the_marker_for_hidden_cells(site: Site) -> None:
    client = client_for(site, "leader")
    cells = api(client, site, "breakdowns", dimension="sector", measure="area")["cells"]
    everyone = api(client, site, "breakdowns", dimension="overall", measure="area")["cells"]
    rows = tables_of(client.get(reverse("dashboards:heatmap", args=[site.wave.pk]) + "?dimension=sector").content)[
        "heatmap"
    ]
    body = rows[1:]
    assert len(body) == len(cells) + len(everyone)
    # The table lists "Everyone" first, then each sector in the wave's order, areas in the instrument's order.
    sectors = [sector["slug"] for sector in site.wave.sectors_snapshot]
    by_key = {(cell["groups"][0], cell["area"]): cell for cell in cells}
    areas = [area["slug"] for area in site.wave.instrument.definition["areas"]]
    expected = [everyone[index] for index in range(len(areas))] + [
        by_key[(slug, area)] for slug in sectors for area in areas
    ]
    for row, cell in zip(body, expected, strict=True):
        mean, ci, size = row[2], row[3], row[4]
        if cell["suppressed"]:
            assert [mean, ci, size] == [("td", "hidden-cell", HIDDEN_TEXT)] * 3
            continue
        assert mean == ("td", "", format_mean(cell["mean"]))
        assert ci[2] == f"{format_mean(cell['ci_low'])} to {format_mean(cell['ci_high'])}"
        assert size[2] == (str(cell["n"]) if cell["n"] is not None else "10 or more")


def test_overview_states_the_apis_overall_figures_bands_and_the_flagged_gap(big_site: Site) -> None:
    site = big_site
    client = client_for(site, "leader")
    overall = api(client, site, "breakdowns", dimension="overall", measure="overall")["cells"][0]
    content = client.get(reverse("dashboards:overview", args=[site.wave.pk])).content.decode()
    assert f'<span class="stat-value">{format_mean(overall["mean"])}</span>' in content
    assert f'<span class="stat-value">{overall["n"]}</span>' in content
    assert (
        "Victim &amp; survivor services rate Enforcement vs. services 0.9 points lower than everyone else." in content
    )
    health = tables_of(content.encode())["health"]
    assert health[1] == [
        ("th", "", "Problem definition"),
        ("td", "", "2.4"),
        ("td", "", "2.1 to 2.7"),
        ("td", "", "60"),
        ("td", "", "Concern"),
    ]
    participation = tables_of(content.encode())["participation-by-sector"]
    by_sector = {row[0][2]: [cell[2] for cell in row[1:]] for row in participation[1:]}
    assert by_sector["Business"] == ["12", HIDDEN_TEXT, HIDDEN_TEXT]
    assert by_sector["Survivor-led organizations & survivor-activists"] == ["12", "10 or more", HIDDEN_TEXT]
    assert by_sector["Law enforcement"] == ["12", "10", "83%"]


def test_pair_matrix_outlines_and_states_the_asymmetric_pair(site: Site) -> None:
    client = client_for(site, "leader")
    cells = api(client, site, "pair-matrix")["cells"]
    content = client.get(reverse("dashboards:pairs", args=[site.wave.pk])).content.decode()
    assert (
        "Victim &amp; survivor services rate their relationship with Law enforcement at 4.0; "
        "Law enforcement rate it at 2.0 (a difference of 2.0)." in content
    )
    rows = tables_of(content.encode())["pairs"][1:]
    assert len(rows) == len(cells)
    for row, cell in zip(rows, cells, strict=True):
        if cell["suppressed"]:
            assert [each[2] for each in row[2:]] == [HIDDEN_TEXT] * 3
        else:
            assert row[2][2] == format_mean(cell["mean"])
            assert row[3][2] == str(cell["n"])
    assert content.count('stroke="#1b1f24" stroke-width="3"') == 2


def test_trends_break_where_a_wave_hid_the_cell(site: Site) -> None:
    client = client_for(site, "leader")
    series = api(client, site, "trends", dimension="sector", measure="area", area="trust")["series"]
    law = next(each for each in series if each["groups"] == ["law-enforcement"])
    assert [point["suppressed"] for point in law["points"]] == [True, False]
    content = client.get(reverse("dashboards:trends", args=[site.wave.pk]) + "?view=sector&area=trust").content
    rows = tables_of(content)["trends"]
    law_rows = [[cell[2] for cell in row] for row in rows if row[0][2] == "Law enforcement"]
    assert law_rows == [
        ["Law enforcement", "2026 Q2"] + [HIDDEN_TEXT] * 4,
        ["Law enforcement", "2026 Q3", format_mean(law["points"][1]["mean"]), "2.9 to 3.5", "10", ""],
    ]


def test_gaps_list_flagged_gaps_first_with_the_group_and_everyone_else(site: Site) -> None:
    client = client_for(site, "leader")
    rows = tables_of(client.get(reverse("dashboards:gaps", args=[site.wave.pk]) + "?dimension=sector").content)["gaps"]
    assert [cell[2] for cell in rows[1]] == [
        "Victim & survivor services",
        "Enforcement vs. services",
        "-0.9",
        "-1.2 to -0.6",
        "2.1",
        "1.8 to 2.4",
        "3.0",
        "13",
        "yes",
    ]


# --- The one marker ---------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["heatmap", "pairs", "trends", "overview"])
def test_every_hidden_cell_shows_only_the_marker(site: Site, page: str) -> None:
    url = page_url(site, page) + ("?view=sector&area=trust" if page == "trends" else "")
    content = client_for(site, "leader").get(url).content.decode()
    drawings = [drawing for drawing in content.split("<svg ")[1:] if "chart-cell is-hidden" in drawing]
    assert drawings
    for drawing in drawings:
        # Within one drawing, apart from its label and position, every hidden cell is the same bytes.
        shapes = set()
        for element in re.findall(r'<g class="chart-cell is-hidden"[^>]*>.*?</g>', drawing, flags=re.S):
            tip = re.search(r'data-tip="([^"]*)"', element)
            assert tip is not None
            assert tip.group(1).endswith(": hidden (too few respondents to show)")
            shape = element.replace(tip.group(1), "LABEL")
            shape = re.sub(r">[^<—]+</(text|tspan)>", r">LABEL</\1>", shape)
            shape = re.sub(r'(x|y|x1|x2|y1|y2|cx|cy|width)="[-0-9.]+"', r'\1="0"', shape)
            shape = re.sub(r'(<tspan x="0" y="0">LABEL</tspan>)+', "LINES", shape)
            shapes.add(re.sub(r"hatch-[a-z-]+[0-9]*", "hatch", shape))
        assert len(shapes) == 1
        assert "n =" not in next(iter(shapes))
    for rows in tables_of(content.encode()).values():
        for row in rows:
            for tag, css, text in row:
                if css == "hidden-cell":
                    assert (tag, text) == ("td", HIDDEN_TEXT)


# --- CSV --------------------------------------------------------------------------------------------


def test_the_health_csv_holds_the_tables_figures_with_two_decimals(site: Site) -> None:
    response = client_for(site, "leader").get(reverse("dashboards:download", args=[site.wave.pk, "health", "csv"]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="riverside-wave-{site.wave.pk}-health.csv"'
    lines = response.content.decode().splitlines()
    assert lines[:3] == [
        "area,area_name,mean,ci_low,ci_high,n,band",
        "problem-definition,Problem definition,2.4,2.1,2.7,60,concern",
        "mission,Mission & priorities,2.5,2.2,2.8,60,concern",
    ]
    assert len(lines) == 15


def test_the_heatmap_csv_marks_hidden_rows_with_the_marker_only(site: Site) -> None:
    response = client_for(site, "leader").get(
        reverse("dashboards:download", args=[site.wave.pk, "heatmap", "csv"]) + "?dimension=sector"
    )
    lines = response.content.decode().splitlines()
    assert lines[0] == "dimension,group,group_name,area,area_name,mean,ci_low,ci_high,n"
    assert lines[1] == "overall,,Everyone,problem-definition,Problem definition,2.4,2.1,2.7,60"
    assert "sector,business,Business,power,Power & decision-making,—,—,—,—" in lines
    assert (
        "sector,survivor-leaders,Survivor-led organizations & survivor-activists,"
        "power,Power & decision-making,3.3,3.0,3.6,10 or more" in lines
    )
    assert len(lines) == 1 + 14 * 14


def test_the_open_waves_csv_holds_only_rounded_overall_participation(site: Site) -> None:
    response = client_for(site, "leader").get(
        reverse("dashboards:download", args=[site.open_wave.pk, "participation", "csv"])
    )
    invited = site.open_wave.invited_count
    assert response.content.decode() == f"invited,responses_rounded_down_to_5,rate_percent\n{invited},0,0\n"


def test_the_svg_download_is_a_standalone_drawing(site: Site) -> None:
    response = client_for(site, "leader").get(reverse("dashboards:download", args=[site.wave.pk, "pairs", "svg"]))
    assert response["Content-Type"] == "image/svg+xml; charset=utf-8"
    assert response.content.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"'
    )


# --- CSV formula injection and file names (issue 10) ------------------------------------------------

FORMULA_NAMES = {
    "law-enforcement": '=HYPERLINK("http://x","y")',
    "prosecution": "+1+1",
    "government": "-1+2",
    "victim-services": "@SUM(A1)",
    "advocacy": "\tx",
    "faith": "\rx",
}


def name_sectors(wave: Wave, names: dict[str, str]) -> None:
    """Give the wave's frozen sectors the names typed by someone hostile (as stored before validation existed)."""
    snapshot = [
        {**sector, "names": {"en": names[sector["slug"]], "es": names[sector["slug"]]}}
        if sector["slug"] in names
        else sector
        for sector in wave.sectors_snapshot
    ]
    Wave.objects.filter(pk=wave.pk).update(sectors_snapshot=snapshot)


def test_sector_names_that_are_formulas_reach_the_pairs_csv_neutralised(site: Site) -> None:
    name_sectors(site.wave, FORMULA_NAMES)

    response = client_for(site, "leader").get(reverse("dashboards:download", args=[site.wave.pk, "pairs", "csv"]))

    assert response.status_code == 200
    content = response.content
    assert content.startswith(b"rater_sector,rater_name,rated_sector,rated_name,mean,n,asymmetry,flag\n")
    assert b'\nvictim-services,\'@SUM(A1),law-enforcement,"\'=HYPERLINK(""http://x"",""y"")",4.0,8,2.0,yes\n' in content
    assert b"\nprosecution,'+1+1,government,'-1+2,2.5,8,,no\n" in content
    assert b"\nadvocacy,'\tx,advocacy,'\tx,1.9,8,,no\n" in content
    # A row holding a carriage return has every field quoted, so no spreadsheet starts a row inside it.
    assert b'\n"faith","\'\rx","faith","\'\rx","1.9","8","","no"\n' in content
    assert [start for start in (b"\n=", b",=", b",+", b",-", b",@", b",\t", b",\r") if start in content] == []


def test_group_names_that_are_formulas_reach_the_heatmap_and_gaps_csvs_neutralised(site: Site) -> None:
    name_sectors(site.wave, FORMULA_NAMES)
    client = client_for(site, "leader")

    heatmap = client.get(reverse("dashboards:download", args=[site.wave.pk, "heatmap", "csv"]) + "?dimension=sector")
    gaps = client.get(reverse("dashboards:download", args=[site.wave.pk, "gaps", "csv"]) + "?dimension=sector")

    assert b"\nsector,government,'-1+2,problem-definition,Problem definition,2.5,2.2,2.8,12\n" in heatmap.content
    # Numbers stay numbers: a negative gap is written as it is.
    assert (
        b"\nsector,victim-services,'@SUM(A1),enforcement-services,Enforcement vs. services,"
        b"-0.9,-1.2,-0.6,2.1,1.8,2.4,0.03,yes,13\n"
    ) in gaps.content


def test_a_wave_label_that_is_a_formula_reaches_the_trends_csv_neutralised(site: Site) -> None:
    Wave.objects.filter(pk=site.previous.pk).update(label="=1+1")

    response = client_for(site, "leader").get(
        reverse("dashboards:download", args=[site.wave.pk, "trends", "csv"]) + "?view=sector&area=trust"
    )

    lines = response.content.decode().splitlines()
    assert lines[1:3] == [
        "law-enforcement,trust,'=1+1,—,—,—,—,—",
        "law-enforcement,trust,2026 Q3,3.2,2.9,3.5,,10",
    ]


HOSTILE_LABELS = [
    pytest.param('2026 Q3"\r\nSet-Cookie: x=1', id="crlf-and-quote"),
    pytest.param("../../etc/passwd", id="dot-dot-slash"),
    pytest.param("report.html", id="html"),
    pytest.param('a"; filename="evil.exe', id="second-filename"),
    pytest.param("\u202egpj.exe", id="right-to-left-override"),
]


@pytest.mark.parametrize("label", HOSTILE_LABELS)
@pytest.mark.parametrize(("chart", "kind"), [("health", "csv"), ("pairs", "svg"), ("heatmap", "csv")])
def test_a_hostile_wave_label_never_changes_a_download_name(site: Site, label: str, chart: str, kind: str) -> None:
    Wave.objects.filter(pk=site.wave.pk).update(label=label)

    response = client_for(site, "leader").get(reverse("dashboards:download", args=[site.wave.pk, chart, kind]))

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="riverside-wave-{site.wave.pk}-{chart}.{kind}"'
    assert "Set-Cookie" not in response


@pytest.mark.parametrize("label", HOSTILE_LABELS)
def test_a_hostile_wave_label_never_changes_a_png_name(site: Site, label: str) -> None:
    Wave.objects.filter(pk=site.wave.pk).update(label=label)

    content = client_for(site, "leader").get(page_url(site, "overview")).content.decode()

    assert re.findall(r'data-filename="([^"]*)"', content) == [
        f"riverside-wave-{site.wave.pk}-health.png",
        f"riverside-wave-{site.wave.pk}-participation-by-sector.png",
    ]


# --- Open waves, rule 5, language -------------------------------------------------------------------


@pytest.mark.parametrize("page", ["heatmap", "pairs", "gaps", "trends"])
def test_an_open_wave_shows_no_group_results(site: Site, page: str) -> None:
    client = client_for(site, "leader")
    response = client.get(page_url(site, page, wave=site.open_wave))
    assert response.status_code == 200
    assert b"chart-cell" not in response.content
    assert client.get(reverse("dashboards:download", args=[site.open_wave.pk, page, "csv"])).status_code == 404


def test_the_open_waves_overview_redirects_to_participation(site: Site) -> None:
    response = client_for(site, "leader").get(page_url(site, "overview", wave=site.open_wave))
    assert response["Location"] == reverse("dashboards:participation", args=[site.open_wave.pk])


@pytest.mark.parametrize(
    "query",
    [
        "?dimension=lived-experience,sector",
        "?dimension=sector&dimension=gender",
        "?dimension=",
        "?segment=x",
        "?dimension=sector,gender",
    ],
)
def test_unknown_repeated_or_ad_hoc_parameters_get_a_400(site: Site, query: str) -> None:
    response = client_for(site, "leader").get(reverse("dashboards:heatmap", args=[site.wave.pk]) + query)
    assert response.status_code == 400
    assert b"chart-cell" not in response.content


def test_the_pages_speak_spanish_with_decimal_commas(site: Site, settings: LazySettings) -> None:
    client = client_for(site, "leader")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    content = client.get(reverse("dashboards:heatmap", args=[site.wave.pk])).content.decode()
    assert '<html lang="es">' in content
    assert "Definición del problema" in content
    assert ">2,4<" in content
    assert 'x="2,4' not in content  # coordinates are never localised
