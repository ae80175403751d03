"""Stored results for the dashboard tests: two closed waves with synthetic, already-suppressed tables.

The tables are written directly, as the analytics run would store them, so
each test knows every figure: hidden sectors (business, other), a sensitive
one (survivor-leaders, size shown only as "10 or more"), a flagged gap and an
asymmetric sector pair.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from analytics.models import AnalyticsRun, PublishedPairMatrix, PublishedTable
from analytics.selectors import CELL_FIELDS, PAIR_FIELDS
from surveys import services
from surveys.models import Coalition, Instrument, Member, Wave
from tests.conftest import add_members, open_wave_for
from tests.factories import MemberFactory, UserFactory

HIDDEN_SECTORS = {"business", "other"}
SENSITIVE_SECTOR = "survivor-leaders"
PASSWORD = "correct-horse-battery"


def hidden_row(groups: list[str]) -> list[Any]:
    return [groups, *([None] * 12), True, None, None]


def visible_row(
    groups: list[str],
    *,
    n: int | None,
    mean: float,
    gap: float | None = None,
    flag: bool = False,
    sensitive: bool = False,
) -> list[Any]:
    row = {
        "groups": groups,
        "n": None if sensitive else n,
        "n_label": "10 or more" if sensitive else None,
        "mean": mean,
        "sd": None if sensitive else 0.5,
        "ci_low": round(mean - 0.3, 2),
        "ci_high": round(mean + 0.3, 2),
        "score_100": round((mean - 1) * 25, 1),
        "gap": gap,
        "p_value": None if sensitive or gap is None else 0.01,
        "q_value": None if sensitive or gap is None else 0.03,
        "hedges_g": None if sensitive or gap is None else 0.8,
        "flag": flag,
        "suppressed": False,
        "gap_ci_low": None if gap is None else round(gap - 0.3, 2),
        "gap_ci_high": None if gap is None else round(gap + 0.3, 2),
    }
    return [row[name] for name in CELL_FIELDS]


def area_mean(area_index: int, group_index: int, shift: float) -> float:
    return round(2.4 + 0.1 * area_index + 0.05 * group_index + shift, 2)


def store_results(wave: Wave, *, shift: float = 0.0, hide_trust_for: str = "") -> AnalyticsRun:
    """Store one successful run with every fixed table of the wave (single dimensions only)."""
    run = AnalyticsRun.objects.create(
        wave=wave,
        engine_version="test-1",
        status=AnalyticsRun.Status.SUCCEEDED,
        stage=AnalyticsRun.Stage.DONE,
        progress=100,
        finished_at=timezone.now(),
    )
    definition = wave.instrument.definition
    areas = [area["slug"] for area in definition["areas"]]
    sectors = [sector["slug"] for sector in wave.sectors_snapshot]
    dimensions = {
        dimension["slug"]: [option["slug"] for option in dimension["options"]] for dimension in definition["dimensions"]
    }
    position = 0
    tables = []

    def add(key: tuple[str, ...], measure: str, area: str, cells: list[list[Any]]) -> None:
        nonlocal position
        tables.append(
            PublishedTable(
                run=run,
                dimensions=list(key),
                table_key=",".join(key),
                measure=measure,
                area=area,
                position=position,
                cells=cells,
            )
        )
        position += 1

    add((), "overall", "overall", [visible_row([], n=60, mean=round(3.1 + shift, 2))])
    for index, area in enumerate(areas):
        add((), "area", area, [visible_row([], n=60, mean=area_mean(index, 0, shift))])

    def sector_row(slug: str, group_index: int, area_index: int | None, area: str) -> list[Any]:
        if slug in HIDDEN_SECTORS or (area == "trust" and slug == hide_trust_for):
            return hidden_row([slug])
        mean = round(3.0 + shift, 2) if area_index is None else area_mean(area_index, group_index, shift)
        gap, flag = round(0.05 * group_index, 2), False
        if slug == "victim-services" and area == "enforcement-services":
            mean, gap, flag = round(2.1 + shift, 2), -0.9, True
        return visible_row(
            [slug], n=10 + group_index, mean=mean, gap=gap, flag=flag, sensitive=slug == SENSITIVE_SECTOR
        )

    add(
        ("sector",),
        "overall",
        "overall",
        [sector_row(slug, index, None, "overall") for index, slug in enumerate(sectors)],
    )
    for area_index, area in enumerate(areas):
        add(
            ("sector",), "area", area, [sector_row(slug, index, area_index, area) for index, slug in enumerate(sectors)]
        )

    for dimension, options in dimensions.items():

        def option_row(option: str, group_index: int, area_index: int | None) -> list[Any]:
            if option == "prefer-not-to-say" or group_index >= 3:
                return hidden_row([option])
            mean = round(3.0 + shift, 2) if area_index is None else area_mean(area_index, group_index, shift)
            return visible_row([option], n=20 - group_index, mean=mean, gap=round(0.1 * group_index, 2))

        add(
            (dimension,),
            "overall",
            "overall",
            [option_row(option, index, None) for index, option in enumerate(options)],
        )
        for area_index, area in enumerate(areas):
            add(
                (dimension,),
                "area",
                area,
                [option_row(option, index, area_index) for index, option in enumerate(options)],
            )
    PublishedTable.objects.bulk_create(tables)

    pairs = []
    for rater in sectors:
        for rated in sectors:
            if rater in HIDDEN_SECTORS or rated in HIDDEN_SECTORS:
                pairs.append([rater, rated, None, None, None, None, True])
                continue
            mean, asymmetry, flag = 2.5, None, False
            if (rater, rated) == ("victim-services", "law-enforcement"):
                mean, asymmetry, flag = 4.0, 2.0, True
            elif (rater, rated) == ("law-enforcement", "victim-services"):
                mean, asymmetry, flag = 2.0, 2.0, True
            elif rater == rated:
                mean = 1.9
            row = {
                "rater_sector": rater,
                "rated_sector": rated,
                "n": 8,
                "mean": mean,
                "asymmetry": asymmetry,
                "flag": flag,
                "suppressed": False,
            }
            pairs.append([row[name] for name in PAIR_FIELDS])
    PublishedPairMatrix.objects.create(run=run, cells=pairs)
    return run


@dataclass
class Site:
    coalition: Coalition
    previous: Wave
    wave: Wave
    open_wave: Wave
    users: dict[str, User | None]


def _user_with_role(coalition: Coalition, username: str, role: str) -> User:
    user = UserFactory(username=username)
    MemberFactory(coalition=coalition, user=user, role=role, sector=coalition.sectors.get(slug="government"))
    return user


def build_site(coalition: Coalition, instrument: Instrument, *, members_per_sector: int) -> Site:
    for sector in coalition.sectors.filter(is_active=True):
        add_members(coalition, members_per_sector, sector.slug)
    users: dict[str, User | None] = {
        role: _user_with_role(coalition, role, role) for role in ("leader", "steward", "researcher", "member")
    }
    users["outsider"] = UserFactory(username="outsider")
    other = services.coalition_create(slug="elsewhere", name="Elsewhere Partnership")
    users["other-leader"] = _user_with_role(other, "other-leader", Member.Role.LEADER)
    users["anonymous"] = None

    now = timezone.now()
    waves = []
    for index, label in enumerate(["2026 Q2", "2026 Q3"]):
        wave = open_wave_for(coalition, instrument, label=label).wave
        Wave.objects.filter(pk=wave.pk).update(
            status=Wave.Status.CLOSED,
            opens_at=now - timedelta(days=200 - 90 * index),
            closes_at=now - timedelta(days=180 - 90 * index),
        )
        wave.refresh_from_db()
        waves.append(wave)
    store_results(waves[0], shift=-0.2, hide_trust_for="law-enforcement")
    store_results(waves[1])
    open_wave = open_wave_for(coalition, instrument, label="2026 Q4").wave
    return Site(coalition=coalition, previous=waves[0], wave=waves[1], open_wave=open_wave, users=users)


@pytest.fixture
def site(coalition: Coalition, instrument: Instrument) -> Site:
    return build_site(coalition, instrument, members_per_sector=2)


@pytest.fixture
def big_site(coalition: Coalition, instrument: Instrument) -> Site:
    return build_site(coalition, instrument, members_per_sector=12)
