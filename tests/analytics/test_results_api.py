"""The results API: access by grant, fixed query parameters, open waves, pages, and figures checked by hand."""

import json
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User
from knox.models import AuthToken
from rest_framework.test import APIClient
from scipy import stats

from analytics import services
from analytics.models import AnalyticsRun
from surveys import services as survey_services
from surveys.models import Coalition, Instrument, Wave
from tests.analytics.conftest import Person, all_cells, closed_wave_with, login_with_role
from tests.conftest import add_members, open_wave_for

# Every item answered with the sector's score: power-1 (not reversed) has these means by hand.
SCORES = {"victim-services": 2, "law-enforcement": 4, "advocacy": 3, "survivor-leaders": 5}
SIZES = {"victim-services": 25, "law-enforcement": 15, "advocacy": 12, "survivor-leaders": 8}
HIDDEN_STATISTICS = dict.fromkeys(
    [
        *("n", "n_label", "mean", "sd", "ci_low", "ci_high", "score_100", "gap", "p_value", "q_value", "hedges_g"),
        *("flag", "gap_ci_low", "gap_ci_high"),
    ]
)


def wave_people() -> list[Person]:
    return [
        Person(sector=sector, gender=("woman",) if index % 2 else ("man",), lived="no", score=SCORES[sector])
        for sector, size in SIZES.items()
        for index in range(size)
    ]


@pytest.fixture
def computed_wave(coalition: Coalition, instrument: Instrument) -> Wave:
    wave = closed_wave_with(coalition, instrument, wave_people())
    services.breakdowns_compute(wave_id=wave.pk)
    return wave


@pytest.fixture
def leader(coalition: Coalition) -> User:
    return login_with_role(coalition, "leader", "leader")


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_a_leader_reads_the_cells_and_they_match_hand_computed_figures(computed_wave: Wave, leader: User) -> None:
    response = client_for(leader).get(f"/api/v1/waves/{computed_wave.pk}/breakdowns/?dimension=overall&area=power-1")

    assert response.status_code == 200
    body = response.json()
    assert body["wave"] == {
        "id": computed_wave.pk,
        "coalition": "riverside",
        "label": "2026 Q3",
        "status": "closed",
    }
    assert (body["results"]["status"], body["results"]["progress"], body["count"], body["pages"]) == (
        "succeeded",
        100,
        1,
        1,
    )
    values = np.repeat([2, 4, 3, 5], [25, 15, 12, 8]).astype(float)
    mean, sd = values.mean(), values.std(ddof=1)
    half = stats.t.ppf(0.975, 59) * sd / np.sqrt(60)
    assert body["cells"] == [
        {
            "dimensions": [],
            "groups": [],
            "measure": "item",
            "area": "power-1",
            "n": 60,
            "n_label": None,
            "mean": round(mean, 2),
            "sd": round(sd, 2),
            "ci_low": round(mean - half, 2),
            "ci_high": round(mean + half, 2),
            "score_100": round((mean - 1) / 4 * 100),
            "gap": None,
            "p_value": None,
            "q_value": None,
            "hedges_g": None,
            "flag": False,
            "suppressed": False,
            "gap_ci_low": None,
            "gap_ci_high": None,
        }
    ]
    assert (body["cells"][0]["mean"], body["cells"][0]["sd"]) == (3.1, 1.1)  # 186 / 60; √(72.6 / 59)


def test_a_sector_gap_matches_welch_and_a_small_sector_is_hidden(computed_wave: Wave, leader: User) -> None:
    cells = all_cells(client_for(leader), computed_wave, "dimension=sector&area=power-1")
    by_sector = {cell["groups"][0]: cell for cell in cells}

    assert len(cells) == 13  # every sector of the wave, answered or not
    victim_services = by_sector["victim-services"]
    rest = np.repeat([4, 3, 5], [15, 12, 8]).astype(float)
    welch = stats.ttest_ind(np.full(25, 2.0), rest, equal_var=False)
    assert (victim_services["n"], victim_services["mean"], victim_services["gap"]) == (
        25,
        2.0,
        round(2 - rest.mean(), 2),
    )
    assert victim_services["p_value"] == float(f"{welch.pvalue:.3g}")
    interval = welch.confidence_interval(0.95)
    assert (victim_services["gap_ci_low"], victim_services["gap_ci_high"]) == (
        round(interval.low, 2),
        round(interval.high, 2),
    )
    assert victim_services["flag"] is True
    # Survivor-leaders: 8 < 10 (sensitive); business: nobody. Both look exactly alike.
    for sector in ("survivor-leaders", "business"):
        assert by_sector[sector] == {
            "dimensions": ["sector"],
            "groups": [sector],
            "measure": "item",
            "area": "power-1",
            **HIDDEN_STATISTICS,
            "suppressed": True,
        }


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("colour=red", "Unknown parameter: colour. Allowed: dimension, measure, area, page."),
        ("dimension=sector&dimension=gender", "Give dimension exactly once, with a value."),
        ("area=", "Give area exactly once, with a value."),
        ("dimension=sector,age,gender", "There is no table sector,age,gender."),
        ("dimension=gender,sector", "There is no table gender,sector."),
        ("area=power-9", "There is no area or item power-9."),
        ("measure=everything", "Unknown measure everything. Use one of: overall, area, item."),
        ("page=0", "page must be a whole number from 1."),
        ("page=99", "There are only 13 pages."),
        ("sector=law-enforcement", "Unknown parameter: sector. Allowed: dimension, measure, area, page."),
    ],
)
def test_unknown_repeated_or_invalid_parameters_get_a_400_and_no_data(
    computed_wave: Wave, leader: User, query: str, detail: str
) -> None:
    response = client_for(leader).get(f"/api/v1/waves/{computed_wave.pk}/breakdowns/?{query}")

    assert response.status_code == 400
    assert response.json() == {"code": "invalid", "detail": detail}


def test_the_pair_matrix_and_trends_refuse_parameters_too(computed_wave: Wave, leader: User) -> None:
    client = client_for(leader)
    assert client.get(f"/api/v1/waves/{computed_wave.pk}/pair-matrix/?dimension=sector").status_code == 400
    assert client.get(f"/api/v1/waves/{computed_wave.pk}/trends/?page=1").status_code == 400


def test_filters_narrow_the_fixed_tables_and_pages_cover_them(computed_wave: Wave, leader: User) -> None:
    client = client_for(leader)
    crossed = all_cells(client, computed_wave, "dimension=sector,gender")
    # 13 sectors × 12 gender groups (5 options, 5 "alone", more than one, prefer not to say) × 70 measures.
    assert len(crossed) == 13 * 12 * 70
    assert {tuple(cell["dimensions"]) for cell in crossed} == {("sector", "gender")}
    first = client.get(f"/api/v1/waves/{computed_wave.pk}/breakdowns/?dimension=sector,gender").json()
    assert (first["count"], first["page"], first["pages"], len(first["cells"])) == (10920, 1, 3, 5000)

    areas = all_cells(client, computed_wave, "measure=area&dimension=sector")
    assert len(areas) == 13 * 14
    # 1 overall, 13 sectors, 64 groups of the 9 dimensions, 13 × 64 crossed: 910 groups × 70 measures.
    assert len(all_cells(client, computed_wave)) == 910 * 70


def test_access_follows_grants(coalition: Coalition, computed_wave: Wave, leader: User) -> None:
    url = f"/api/v1/waves/{computed_wave.pk}/breakdowns/?dimension=overall&area=overall"
    member = login_with_role(coalition, "member", "member")
    other = survey_services.coalition_create(slug="elsewhere", name="Elsewhere")
    other_leader = login_with_role(other, "leader", "other-leader")

    assert client_for(None).get(url).status_code == 401
    assert client_for(member).get(url).json() == {
        "code": "permission_denied",
        "detail": "Your account has no access to results.",
    }
    assert client_for(other_leader).get(url).status_code == 404
    for role in ("researcher", "steward"):
        assert client_for(login_with_role(coalition, role, role)).get(url).status_code == 200
    _instance, token = AuthToken.objects.create(user=leader)
    token_client = APIClient()
    token_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert token_client.get(url).json()["count"] == 1
    session_client = APIClient()
    session_client.force_login(leader)
    assert session_client.get(url).json()["count"] == 1


def test_an_open_wave_returns_no_group_results(coalition: Coalition, instrument: Instrument, leader: User) -> None:
    add_members(coalition, 6)
    wave = open_wave_for(coalition, instrument).wave
    client = client_for(leader)

    body = client.get(f"/api/v1/waves/{wave.pk}/breakdowns/").json()
    assert body == {
        "wave": {"id": wave.pk, "coalition": "riverside", "label": "2026 Q4", "status": "open"},
        "results": None,
        "detail": "Group results appear after the wave closes.",
        "count": 0,
        "page": 1,
        "pages": 1,
        "cells": [],
    }
    assert client.get(f"/api/v1/waves/{wave.pk}/pair-matrix/").json()["cells"] == []
    assert client.get(f"/api/v1/waves/{wave.pk}/trends/").json()["series"] == []


def test_a_closed_wave_being_computed_says_so(coalition: Coalition, instrument: Instrument, leader: User) -> None:
    wave = closed_wave_with(coalition, instrument, wave_people())
    services.run_request(wave_id=wave.pk)

    body = client_for(leader).get(f"/api/v1/waves/{wave.pk}/breakdowns/").json()
    assert (body["detail"], body["results"]["status"], body["results"]["stage"], body["cells"]) == (
        "The results are being computed.",
        "pending",
        "Waiting for a worker",
        [],
    )


def test_the_pair_matrix_hides_small_cells_and_pairs_asymmetry(
    coalition: Coalition, instrument: Instrument, leader: User
) -> None:
    people = [Person(sector="victim-services", extra={"pair:advocacy": 2}) for _ in range(12)]
    people += [Person(sector="law-enforcement", extra={"pair:victim-services": 2}) for _ in range(11)]
    people += [Person(sector="advocacy", extra={"pair:victim-services": 3}) for _ in range(3)]
    people += [
        Person(sector="advocacy", extra={"pair:victim-services": 3, "pair:law-enforcement": 4}) for _ in range(3)
    ]
    # Two small sectors, hidden together (3 + 3 ≥ 5), so that no other sector is hidden with them.
    people += [Person(sector=sector) for sector in ("health", "faith") for _ in range(3)]
    wave = closed_wave_with(coalition, instrument, people)
    services.breakdowns_compute(wave_id=wave.pk)

    cells = client_for(leader).get(f"/api/v1/waves/{wave.pk}/pair-matrix/").json()["cells"]
    by_pair = {(cell["rater_sector"], cell["rated_sector"]): cell for cell in cells}
    assert len(cells) == 169
    assert by_pair[("victim-services", "advocacy")] == {
        "rater_sector": "victim-services",
        "rated_sector": "advocacy",
        "n": 12,
        "mean": 2.0,
        "asymmetry": 1.0,
        "flag": True,
        "suppressed": False,
    }
    assert (by_pair[("advocacy", "victim-services")]["n"], by_pair[("advocacy", "victim-services")]["mean"]) == (6, 3.0)
    hidden = {"n": None, "mean": None, "asymmetry": None, "flag": None, "suppressed": True}
    # 3 raters (< 5), and no rater at all: alike.
    for rater, rated in (("advocacy", "law-enforcement"), ("law-enforcement", "advocacy")):
        assert by_pair[(rater, rated)] == {"rater_sector": rater, "rated_sector": rated, **hidden}
    # A shown cell whose reverse is hidden shows no asymmetry.
    assert (
        by_pair[("law-enforcement", "victim-services")]["n"],
        by_pair[("law-enforcement", "victim-services")]["asymmetry"],
    ) == (11, None)


def test_trends_show_a_change_only_where_both_waves_show_the_cell(
    coalition: Coalition, instrument: Instrument, leader: User
) -> None:
    earlier = closed_wave_with(coalition, instrument, wave_people(), label="2026 Q2", opens_at=None)
    earlier.opens_at = earlier.opens_at.replace(month=4)
    earlier.closes_at = earlier.closes_at.replace(month=4)
    earlier.save()
    later_people = [
        Person(sector=person.sector, gender=person.gender, lived="no", score=min(5, (person.score or 1) + 1))
        for person in wave_people()
    ]
    later = closed_wave_with(coalition, instrument, later_people, label="2026 Q3")
    for wave in (earlier, later):
        services.breakdowns_compute(wave_id=wave.pk)

    body = client_for(leader).get(f"/api/v1/waves/{later.pk}/trends/?dimension=sector&area=power-1").json()

    assert body["waves"] == [{"id": earlier.pk, "label": "2026 Q2"}, {"id": later.pk, "label": "2026 Q3"}]
    series = {tuple(item["groups"]): item["points"] for item in body["series"]}
    assert [(point["mean"], point["change"]) for point in series[("victim-services",)]] == [(2.0, None), (3.0, 1.0)]
    assert [point["suppressed"] for point in series[("survivor-leaders",)]] == [True, True]
    assert [point["change"] for point in series[("survivor-leaders",)]] == [None, None]


def test_the_schema_documents_the_results_endpoints(client: Any) -> None:
    schema = client.get("/api/schema/?format=json")
    paths = json.loads(schema.content)["paths"]
    for endpoint in ("breakdowns", "pair-matrix", "trends"):
        assert f"/api/v1/waves/{{wave_id}}/{endpoint}/" in paths


def test_runs_are_one_per_wave_and_engine_version(computed_wave: Wave) -> None:
    assert AnalyticsRun.objects.filter(wave=computed_wave).count() == 1
