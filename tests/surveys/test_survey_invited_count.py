"""The introduction page tells every member how many people in how many sectors were invited, rounded."""

import html
import re
from typing import Any

import pytest
from django.test import Client

from surveys import selectors
from surveys.models import Coalition, Instrument
from surveys.survey_pages import invited_people_rounded
from tests.conftest import add_members, open_wave_for
from tests.surveys.test_survey_flow import enter

SECTOR_SLUGS = [
    "law-enforcement",
    "prosecution",
    "government",
    "victim-services",
    "advocacy",
    "faith",
    "survivor-leaders",
    "business",
    "funders",
]


def invited_sentence(response: Any) -> str:
    match = re.search(r'<li id="invited-count">(.*?)</li>', response.content.decode(), re.S)
    assert match is not None
    return html.unescape(match.group(1)).strip()


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        pytest.param(0, None, id="0"),
        pytest.param(4, None, id="4"),
        pytest.param(5, 5, id="5"),
        pytest.param(7, 5, id="7"),
        pytest.param(8, 10, id="8"),
        pytest.param(12, 10, id="12"),
        pytest.param(13, 15, id="13"),
        pytest.param(47, 45, id="47"),
        pytest.param(48, 50, id="48"),
        pytest.param(49, 50, id="49"),
        pytest.param(50, 50, id="50"),
        pytest.param(53, 50, id="53"),
        pytest.param(54, 50, id="54"),
        pytest.param(55, 60, id="55"),
        pytest.param(110, 110, id="110"),
        pytest.param(114, 110, id="114"),
    ],
)
def test_rounds_the_invited_count_to_5_below_50_and_to_10_from_50(count: int, expected: int | None) -> None:
    assert invited_people_rounded(count) == expected


# The Spanish sentences need the translations in /work/tmp/es-helper-c.json merged into
# locale/es and compiled; until then the "es" cases fail (the page shows the English msgid).
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("invited", "sectors", "language", "expected"),
    [
        pytest.param(12, 3, "en", "About 10 people in 3 sectors were invited to this survey.", id="12-en"),
        pytest.param(47, 5, "en", "About 45 people in 5 sectors were invited to this survey.", id="47-en"),
        pytest.param(53, 9, "en", "About 50 people in 9 sectors were invited to this survey.", id="53-en"),
        pytest.param(110, 9, "en", "About 110 people in 9 sectors were invited to this survey.", id="110-en"),
        pytest.param(3, 1, "en", "Fewer than 5 people in 1 sector were invited to this survey.", id="3-en"),
        pytest.param(3, 2, "en", "Fewer than 5 people in 2 sectors were invited to this survey.", id="3-in-2-en"),
        pytest.param(12, 3, "es", "Se invitó a responder esta encuesta a unas 10 personas de 3 sectores.", id="12-es"),
        pytest.param(47, 5, "es", "Se invitó a responder esta encuesta a unas 45 personas de 5 sectores.", id="47-es"),
        pytest.param(53, 9, "es", "Se invitó a responder esta encuesta a unas 50 personas de 9 sectores.", id="53-es"),
        pytest.param(
            110, 9, "es", "Se invitó a responder esta encuesta a unas 110 personas de 9 sectores.", id="110-es"
        ),
        pytest.param(3, 1, "es", "Se invitó a responder esta encuesta a menos de 5 personas de 1 sector.", id="3-es"),
        pytest.param(
            3, 2, "es", "Se invitó a responder esta encuesta a menos de 5 personas de 2 sectores.", id="3-in-2-es"
        ),
    ],
)
def test_the_introduction_says_how_many_people_in_how_many_sectors_were_invited(
    client: Client,
    coalition: Coalition,
    instrument: Instrument,
    invited: int,
    sectors: int,
    language: str,
    expected: str,
) -> None:
    for index in range(invited):
        add_members(coalition, 1, SECTOR_SLUGS[index % sectors], language=language)
    # Not invited, so not counted: an inactive member in a sector of their own.
    add_members(coalition, 1, "health", language=language, is_active=False)
    open_wave = open_wave_for(coalition, instrument)
    enter(client, open_wave, language=language)

    page = client.get("/q/")

    assert invited_sentence(page) == expected
    assert open_wave.wave.invited_count == invited


@pytest.mark.django_db
def test_counts_the_sectors_that_have_invitees_in_one_query(
    coalition: Coalition, instrument: Instrument, django_assert_num_queries: Any
) -> None:
    add_members(coalition, 6, "victim-services")
    add_members(coalition, 4, "law-enforcement")
    add_members(coalition, 2, "funders", is_active=False)
    wave = open_wave_for(coalition, instrument).wave

    with django_assert_num_queries(1):
        reach = selectors.wave_invited_reach(wave=wave)

    assert reach == {"people": 10, "sectors": 2}
    assert len(wave.sectors_snapshot) == 13
