"""Synthetic demo data: a roster with fixed social locations, and answers with planted differences.

Pure numpy and standard library: nothing here touches Django or the database,
so the generator can be read and tested on its own. Every number that shapes
the data is a module constant, and docs/demo-data.md lists each planted
difference; the analytics must recover exactly those.

Each respondent has a latent "health" per strain area on the 1-5 scale
(5 = no strain):

    health = BASELINE + AREA_OFFSETS[area] + personal intercept
             + planted effects + wave trend + noise (sd WAVE_NOISE_SD)

and each item's answer is that health plus item noise, rounded into 1..5.
Reverse-keyed items and direct strain ratings store `6 - answer`, so scoring
(which reverses them back) sees the health again.
"""

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SEED = 20261117
EMAIL_DOMAIN = "demo.coalition.example"

# Roster size per default sector, in the order of surveys/data/sectors.json.
SECTOR_SIZES: dict[str, int] = {
    "law-enforcement": 22,
    "prosecution": 10,
    "government": 14,
    "victim-services": 28,
    "advocacy": 18,
    "faith": 12,
    # 16, with high participation, so that every closed wave has at least 10
    # survivor-leaders: the sector's cells need n >= 10 (PRIVACY.md rule 1).
    "survivor-leaders": 16,
    "business": 7,
    # 8, so that the funders' row of the pair matrix reaches k = 5.
    "funders": 8,
    "education": 8,
    "community": 12,
    "health": 10,
    "other": 4,
}

# The first member (lowest number) of each sector gets the role and the login.
ROLE_SECTORS: dict[str, str] = {
    "steward": "government",
    "leader": "victim-services",
    "researcher": "education",
}

# --- Participation ------------------------------------------------------------

# Share of each sector that answers, per wave: the wave's rate plus the
# sector's adjustment, turned into a whole number of respondents.
CLOSED_WAVE_RATES: tuple[float, ...] = (0.64, 0.70, 0.74, 0.67)
OPEN_WAVE_RATE = 0.62
SECTOR_PARTICIPATION: dict[str, float] = {
    "law-enforcement": -0.06,
    "prosecution": -0.05,
    "government": 0.0,
    "victim-services": 0.04,
    "advocacy": 0.02,
    "faith": -0.03,
    "survivor-leaders": 0.10,
    "business": -0.10,
    "funders": 0.08,
    "education": 0.0,
    "community": -0.04,
    "health": -0.05,
    "other": 0.0,
}

# --- Latent scores ------------------------------------------------------------

BASELINE = 3.4
# The same for every group: they shape the overall profile (some areas in the
# "concern" band, some "strength"), never a difference between groups.
AREA_OFFSETS: dict[str, float] = {
    "problem-definition": 0.2,
    "mission": 0.0,
    "enforcement-services": -0.2,
    "information-sharing": 0.0,
    "resources": -0.5,
    "credit": 0.0,
    "power": -0.2,
    "leadership": 0.3,
    "trust": 0.0,
    "coordination": 0.3,
    "race-gender": -0.1,
    "values": 0.2,
    "survivor-inclusion": -0.1,
    "capacity": -0.4,
}
PERSON_SD = 0.25
WAVE_NOISE_SD = 0.35
ITEM_NOISE_SD = 0.35
NOT_APPLICABLE_RATE = 0.03
SKIP_RATE = 0.02
PREFER_NOT_TO_SAY_RATE = 0.05

# --- Planted differences (docs/demo-data.md lists them for the analytics) ------

# Added to the latent health of (sector, area).
SECTOR_EFFECTS: dict[tuple[str, str], float] = {
    ("survivor-leaders", "power"): -1.1,
    ("survivor-leaders", "survivor-inclusion"): -1.1,
    ("victim-services", "enforcement-services"): -0.9,
    ("law-enforcement", "enforcement-services"): 0.4,
    ("faith", "values"): 0.3,
    ("advocacy", "values"): -0.7,
}
# (area, effect) for a reported social location; the effects add up.
FINANCIAL_STRAIN_EFFECT = ("resources", -0.8)  # just getting by, finding it difficult
PERSON_OF_COLOUR_EFFECT = ("race-gender", -0.8)  # any race option other than white
WOMAN_EFFECT = ("race-gender", -0.4)
VOLUNTEER_EFFECT = ("capacity", -0.8)

# Per wave index w (0 = 2025 Q4 ... 4 = 2026 Q4): start + slope * w.
TRENDS: dict[str, tuple[float, float]] = {
    "trust": (-0.3, 0.2),
    "information-sharing": (0.3, -0.15),
}

FINANCIAL_STRAIN = frozenset({"just-getting-by", "finding-it-difficult"})
WHITE = "white"
PREFER_NOT_TO_SAY = "prefer-not-to-say"

# --- Sector-pair matrix (strain, 1 = none ... 5 = severe) ---------------------

PAIR_DEFAULT = 2.5
PAIR_OWN_SECTOR = 1.9
PAIR_OFFSET_SD = 0.1
PAIR_NOISE_SD = 0.6
PAIR_PLANTED: dict[tuple[str, str], float] = {
    ("victim-services", "law-enforcement"): 4.0,
    ("law-enforcement", "victim-services"): 2.0,
    ("survivor-leaders", "funders"): 3.8,
    ("funders", "survivor-leaders"): 2.2,
}
NO_RELATIONSHIP_RATE = 0.15
NO_RELATIONSHIP_RATE_OWN = 0.02


@dataclass(frozen=True)
class DemoProfile:
    """A respondent's fixed social location (as they report it) and personal tendencies."""

    sector: str
    gender: tuple[str, ...]
    race_ethnicity: tuple[str, ...]
    financial: str
    pay_status: str
    org_budget: str
    role_level: str
    lived_experience: str
    age: str
    tenure: str
    # A personal tilt of every area score, the same in every wave.
    intercept: float
    # How readily the person answers; ranks members when choosing respondents.
    engagement: float

    def dimension_answers(self) -> dict[str, str | list[str]]:
        """Return the answers to the default instrument's social-location questions."""
        return {
            "gender": list(self.gender),
            "race-ethnicity": list(self.race_ethnicity),
            "financial": self.financial,
            "pay-status": self.pay_status,
            "org-budget": self.org_budget,
            "role-level": self.role_level,
            "lived-experience": self.lived_experience,
            "age": self.age,
            "tenure": self.tenure,
        }

    @property
    def is_person_of_colour(self) -> bool:
        return any(option not in (WHITE, PREFER_NOT_TO_SAY) for option in self.race_ethnicity)

    @property
    def is_woman(self) -> bool:
        return "woman" in self.gender

    @property
    def is_financially_strained(self) -> bool:
        return self.financial in FINANCIAL_STRAIN


@dataclass(frozen=True)
class DemoMember:
    """One roster entry of the demo coalition."""

    number: int
    email: str
    sector: str
    language: str
    role: str
    profile: DemoProfile


# --- Drawing profiles ---------------------------------------------------------


def _pick(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    options = list(weights)
    probabilities = np.array([weights[option] for option in options], dtype=float)
    return options[int(rng.choice(len(options), p=probabilities / probabilities.sum()))]


def _withheld(rng: np.random.Generator) -> bool:
    return bool(rng.random() < PREFER_NOT_TO_SAY_RATE)


_WOMAN_SHARE: dict[str, float] = {
    "law-enforcement": 0.28,
    "prosecution": 0.55,
    "victim-services": 0.82,
    "advocacy": 0.75,
    "faith": 0.6,
    "survivor-leaders": 0.8,
    "business": 0.45,
    "funders": 0.65,
    "education": 0.7,
    "health": 0.72,
}

_RACE_WEIGHTS: dict[str, dict[str, float]] = {
    "default": {
        "white": 0.55,
        "black": 0.2,
        "hispanic-latino": 0.15,
        "asian": 0.06,
        "american-indian-alaska-native": 0.02,
        "middle-eastern-north-african": 0.01,
        "native-hawaiian-pacific-islander": 0.01,
    },
    "law-enforcement": {
        "white": 0.65,
        "black": 0.15,
        "hispanic-latino": 0.15,
        "asian": 0.03,
        "american-indian-alaska-native": 0.02,
    },
    "community": {
        "white": 0.15,
        "black": 0.15,
        "hispanic-latino": 0.45,
        "asian": 0.2,
        "middle-eastern-north-african": 0.05,
    },
    "funders": {"white": 0.75, "black": 0.1, "hispanic-latino": 0.08, "asian": 0.07},
}

# The default instrument's option order, in which answers are stored.
_RACE_OPTIONS = (
    "american-indian-alaska-native",
    "asian",
    "black",
    "hispanic-latino",
    "middle-eastern-north-african",
    "native-hawaiian-pacific-islander",
    "white",
)

_FINANCIAL_WEIGHTS: dict[str, dict[str, float]] = {
    "default": {
        "living-comfortably": 0.28,
        "doing-okay": 0.42,
        "just-getting-by": 0.2,
        "finding-it-difficult": 0.1,
    },
    "survivor-leaders": {
        "living-comfortably": 0.05,
        "doing-okay": 0.3,
        "just-getting-by": 0.4,
        "finding-it-difficult": 0.25,
    },
    "community": {
        "living-comfortably": 0.1,
        "doing-okay": 0.4,
        "just-getting-by": 0.35,
        "finding-it-difficult": 0.15,
    },
    "comfortable": {
        "living-comfortably": 0.45,
        "doing-okay": 0.45,
        "just-getting-by": 0.08,
        "finding-it-difficult": 0.02,
    },
}
_COMFORTABLE_SECTORS = frozenset({"law-enforcement", "prosecution", "business", "funders"})

# (volunteer, mixed); the rest are paid.
_PAY_SHARES: dict[str, tuple[float, float]] = {
    "survivor-leaders": (0.4, 0.3),
    "faith": (0.45, 0.2),
    "community": (0.3, 0.2),
    "advocacy": (0.2, 0.1),
    "other": (0.25, 0.1),
}

_BUDGET_WEIGHTS: dict[str, dict[str, float]] = {
    "default": {"under-250k": 0.2, "250k-1m": 0.35, "1m-5m": 0.3, "over-5m": 0.1, "dont-know": 0.05},
    "public": {"public-agency": 0.85, "over-5m": 0.05, "dont-know": 0.1},
    "health": {"over-5m": 0.4, "public-agency": 0.35, "1m-5m": 0.2, "dont-know": 0.05},
    "funders": {"over-5m": 0.6, "1m-5m": 0.35, "dont-know": 0.05},
    "survivor-leaders": {"under-250k": 0.7, "250k-1m": 0.2, "dont-know": 0.1},
    "faith": {"under-250k": 0.4, "250k-1m": 0.3, "1m-5m": 0.15, "dont-know": 0.15},
    "business": {"over-5m": 0.6, "1m-5m": 0.2, "dont-know": 0.2},
}
_PUBLIC_SECTORS = frozenset({"law-enforcement", "prosecution", "government"})

_ROLE_WEIGHTS = {"frontline": 0.42, "manager": 0.33, "executive": 0.2, "independent": 0.05}
_AGE_WEIGHTS = {"under-25": 0.04, "25-34": 0.24, "35-44": 0.28, "45-54": 0.22, "55-64": 0.15, "65-plus": 0.07}
_TENURE_WEIGHTS = {"under-1": 0.18, "1-3": 0.35, "3-5": 0.25, "5-plus": 0.22}
LIVED_EXPERIENCE_SHARE_OTHERS = 0.06
# At least this many police officers say "yes", so that "lived experience =
# yes" minus "survivor-leaders" isolates a real person unless the audit of
# PRIVACY.md rule 4 catches it.
LIVED_EXPERIENCE_MINIMUM_LAW_ENFORCEMENT = 2


def _gender(rng: np.random.Generator, sector: str) -> tuple[str, ...]:
    draw = rng.random()
    if draw < 0.04:
        return (PREFER_NOT_TO_SAY,)
    if draw < 0.07:
        return ("non-binary",)
    if draw < 0.08:
        return ("different-term",)
    gender = "woman" if rng.random() < _WOMAN_SHARE.get(sector, 0.6) else "man"
    if rng.random() < 0.03:
        # Stored in the instrument's option order: woman, man, ..., transgender.
        return (gender, "transgender")
    return (gender,)


def _race_ethnicity(rng: np.random.Generator, sector: str, language: str) -> tuple[str, ...]:
    if _withheld(rng):
        return (PREFER_NOT_TO_SAY,)
    weights = _RACE_WEIGHTS.get(sector, _RACE_WEIGHTS["default"])
    first = "hispanic-latino" if language == "es" and rng.random() < 0.9 else _pick(rng, weights)
    chosen = {first}
    if rng.random() < 0.1:
        others = {option: weight for option, weight in _RACE_WEIGHTS["default"].items() if option != first}
        chosen.add(_pick(rng, others))
    return tuple(option for option in _RACE_OPTIONS if option in chosen)


def _financial(rng: np.random.Generator, sector: str) -> str:
    if _withheld(rng):
        return PREFER_NOT_TO_SAY
    key = "comfortable" if sector in _COMFORTABLE_SECTORS else sector
    return _pick(rng, _FINANCIAL_WEIGHTS.get(key, _FINANCIAL_WEIGHTS["default"]))


def _pay_status(rng: np.random.Generator, sector: str) -> str:
    if _withheld(rng):
        return PREFER_NOT_TO_SAY
    volunteer, mixed = _PAY_SHARES.get(sector, (0.03, 0.08))
    return _pick(rng, {"volunteer": volunteer, "mixed": mixed, "paid": 1 - volunteer - mixed})


def _org_budget(rng: np.random.Generator, sector: str) -> str:
    if _withheld(rng):
        return PREFER_NOT_TO_SAY
    key = "public" if sector in _PUBLIC_SECTORS else sector
    return _pick(rng, _BUDGET_WEIGHTS.get(key, _BUDGET_WEIGHTS["default"]))


def _role_level(rng: np.random.Generator, pay_status: str) -> str:
    if _withheld(rng):
        return PREFER_NOT_TO_SAY
    if pay_status == "volunteer":
        return "independent" if rng.random() < 0.8 else "frontline"
    return _pick(rng, _ROLE_WEIGHTS)


def _lived_experience(rng: np.random.Generator, sector: str) -> str:
    if sector == "survivor-leaders":
        return _pick(rng, {"yes": 0.85, "no": 0.05, PREFER_NOT_TO_SAY: 0.10})
    return _pick(
        rng,
        {
            "yes": LIVED_EXPERIENCE_SHARE_OTHERS,
            "no": 0.88,
            PREFER_NOT_TO_SAY: 1 - 0.88 - LIVED_EXPERIENCE_SHARE_OTHERS,
        },
    )


def profile_draw(rng: np.random.Generator, *, sector: str, language: str) -> DemoProfile:
    """Draw a respondent's fixed social location and tendencies for `sector`."""
    gender = _gender(rng, sector)
    race_ethnicity = _race_ethnicity(rng, sector, language)
    financial = _financial(rng, sector)
    pay_status = _pay_status(rng, sector)
    org_budget = _org_budget(rng, sector)
    role_level = _role_level(rng, pay_status)
    lived_experience = _lived_experience(rng, sector)
    age = PREFER_NOT_TO_SAY if _withheld(rng) else _pick(rng, _AGE_WEIGHTS)
    tenure = PREFER_NOT_TO_SAY if _withheld(rng) else _pick(rng, _TENURE_WEIGHTS)
    return DemoProfile(
        sector=sector,
        gender=gender,
        race_ethnicity=race_ethnicity,
        financial=financial,
        pay_status=pay_status,
        org_budget=org_budget,
        role_level=role_level,
        lived_experience=lived_experience,
        age=age,
        tenure=tenure,
        intercept=float(rng.normal(0, PERSON_SD)),
        engagement=float(rng.normal(0, 1)),
    )


_SPANISH_SHARE: dict[str, float] = {
    "community": 0.45,
    "victim-services": 0.3,
    "survivor-leaders": 0.3,
    "faith": 0.3,
}


def roster_plan(seed: int = SEED) -> list[DemoMember]:
    """Return the demo roster, ordered by member number; the same for the same seed."""
    sectors = [sector for sector, size in SECTOR_SIZES.items() for _ in range(size)]
    # Numbers are shuffled across sectors so that an email says nothing about a sector.
    numbers = np.random.default_rng(seed).permutation(len(sectors)) + 1
    members: list[DemoMember] = []
    for sector, number in zip(sectors, numbers.tolist(), strict=True):
        rng = np.random.default_rng([seed, number])
        language = "es" if rng.random() < _SPANISH_SHARE.get(sector, 0.1) else "en"
        members.append(
            DemoMember(
                number=number,
                email=f"member{number:03d}@{EMAIL_DOMAIN}",
                sector=sector,
                language=language,
                role="member",
                profile=profile_draw(rng, sector=sector, language=language),
            )
        )
    members.sort(key=lambda member: member.number)

    police = [member for member in members if member.sector == "law-enforcement"]
    missing = LIVED_EXPERIENCE_MINIMUM_LAW_ENFORCEMENT - sum(
        member.profile.lived_experience == "yes" for member in police
    )
    promoted = [member.number for member in police if member.profile.lived_experience != "yes"][:missing]

    roles = {}
    for role, sector in ROLE_SECTORS.items():
        roles[next(member.number for member in members if member.sector == sector)] = role

    plan = []
    for member in members:
        profile = member.profile
        if member.number in promoted:
            profile = _replace(profile, lived_experience="yes")
        plan.append(
            DemoMember(
                number=member.number,
                email=member.email,
                sector=member.sector,
                language=member.language,
                role=roles.get(member.number, "member"),
                profile=profile,
            )
        )
    return plan


def _replace(profile: DemoProfile, **changes: Any) -> DemoProfile:
    fields = {name: getattr(profile, name) for name in DemoProfile.__dataclass_fields__}
    return DemoProfile(**{**fields, **changes})


# --- Participation ------------------------------------------------------------


def respondents_choose(members: Sequence[DemoMember], *, wave_index: int, rate: float, seed: int = SEED) -> set[int]:
    """Return the numbers of the members who answer a wave.

    Each sector answers at `rate` plus its adjustment, rounded to whole people;
    within a sector the most engaged answer, give or take a draw per wave.
    """
    rng = np.random.default_rng([seed, 1000 + wave_index])
    by_sector: dict[str, list[tuple[float, int]]] = {}
    for member in members:
        readiness = member.profile.engagement + float(rng.normal(0, 0.7))
        by_sector.setdefault(member.sector, []).append((readiness, member.number))
    chosen: set[int] = set()
    for sector, ranked in by_sector.items():
        share = min(max(rate + SECTOR_PARTICIPATION.get(sector, 0.0), 0.2), 0.95)
        count = round(len(ranked) * share)
        ranked.sort(reverse=True)
        chosen.update(number for _readiness, number in ranked[:count])
    return chosen


# --- Answers ------------------------------------------------------------------


def area_expected(profile: DemoProfile, area: str, wave_index: int) -> float:
    """Return the respondent's expected latent health of `area` in a wave, before noise."""
    value = BASELINE + AREA_OFFSETS.get(area, 0.0) + profile.intercept
    value += SECTOR_EFFECTS.get((profile.sector, area), 0.0)
    attributes = (
        (profile.is_financially_strained, FINANCIAL_STRAIN_EFFECT),
        (profile.is_person_of_colour, PERSON_OF_COLOUR_EFFECT),
        (profile.is_woman, WOMAN_EFFECT),
        (profile.pay_status == "volunteer", VOLUNTEER_EFFECT),
    )
    for applies, (effect_area, effect) in attributes:
        if applies and effect_area == area:
            value += effect
    if area in TRENDS:
        start, slope = TRENDS[area]
        value += start + slope * wave_index
    return value


def _pair_offset(rater: str, rated: str) -> float:
    # crc32, not hash(): the offset must be the same in every process.
    rng = np.random.default_rng(zlib.crc32(f"{rater}>{rated}".encode()))
    return float(np.clip(rng.normal(0, PAIR_OFFSET_SD), -0.2, 0.2))


def pair_expected(rater: str, rated: str) -> float:
    """Return the expected strain that people of sector `rater` report with sector `rated`."""
    if (rater, rated) in PAIR_PLANTED:
        return PAIR_PLANTED[(rater, rated)]
    base = PAIR_OWN_SECTOR if rater == rated else PAIR_DEFAULT
    return base + _pair_offset(rater, rated)


def _to_scale(value: float, points: int) -> int:
    return int(np.clip(np.rint(value), 1, points))


def _practice(rng: np.random.Generator, family_health: float) -> str:
    if rng.random() < 0.1:
        return "dont-know"
    shift = family_health - 3.0
    yes = float(np.clip(0.15 + 0.3 * shift, 0.05, 0.7))
    no = float(np.clip(0.35 - 0.25 * shift, 0.05, 0.6))
    return _pick(rng, {"yes": yes, "partly": 1 - yes - no, "no": no})


def _change(rng: np.random.Generator, mean_health: float) -> str:
    shift = float(np.clip((mean_health - BASELINE) * 0.2, -0.1, 0.1))
    return _pick(rng, {"better": 0.25 + shift, "same": 0.45, "worse": 0.18 - shift, "dont-know": 0.12})


def _levels(rng: np.random.Generator, options: Sequence[str]) -> list[str]:
    if "dont-know" in options and rng.random() < 0.06:
        return ["dont-know"]
    shares = {"between-people": 0.45, "between-organizations": 0.6, "between-sectors": 0.55}
    chosen = [option for option in options if option in shares and rng.random() < shares[option]]
    return chosen or ["between-organizations"]


def _top_areas(rng: np.random.Generator, health: Mapping[str, float], limit: int) -> list[str]:
    weakest = sorted(health, key=lambda area: health[area])
    count = min(limit, 2 if rng.random() < 0.08 else 3)
    if rng.random() < 0.8:
        chosen = weakest[:count]
    else:
        pool = weakest[: max(count, 6)]
        chosen = [pool[index] for index in rng.choice(len(pool), size=count, replace=False)]
    return [area for area in health if area in chosen]


def answers_generate(
    rng: np.random.Generator,
    *,
    definition: Mapping[str, Any],
    sector_slugs: Sequence[str],
    profile: DemoProfile,
    wave_index: int,
) -> dict[str, Any]:
    """Return one respondent's answers to `definition`, in the stored encoding.

    Scale items are 1..points or "na"; the pair matrix is keyed
    "pair:<sector>" with 1..points or "none"; skipped questions are absent.
    """
    scales = definition["scales"]
    areas = definition["areas"]
    health = {
        area["slug"]: area_expected(profile, area["slug"], wave_index) + float(rng.normal(0, WAVE_NOISE_SD))
        for area in areas
    }
    family_areas: dict[str, list[str]] = {}
    for area in areas:
        family_areas.setdefault(area.get("practice_family", ""), []).append(area["slug"])

    answers: dict[str, Any] = {}
    for section in definition["sections"]:
        for item in section["items"]:
            slug, kind, role = item["slug"], item["type"], item.get("role")
            if kind == "text" or not item.get("enabled", True):
                continue
            if kind == "pair_matrix":
                points = scales[item["scale"]]["points"]
                for rated in sector_slugs:
                    # The planted pairs work together closely: always answered, so
                    # their cells reach the reporting threshold in every wave.
                    if (profile.sector, rated) not in PAIR_PLANTED:
                        none_rate = NO_RELATIONSHIP_RATE_OWN if rated == profile.sector else NO_RELATIONSHIP_RATE
                        if rng.random() < SKIP_RATE:
                            continue
                        if rng.random() < none_rate:
                            answers[f"pair:{rated}"] = "none"
                            continue
                    strain = pair_expected(profile.sector, rated) + float(rng.normal(0, PAIR_NOISE_SD))
                    answers[f"pair:{rated}"] = _to_scale(strain, points)
                continue
            if rng.random() < SKIP_RATE:
                continue
            if kind == "scale" and item.get("area") in health:
                if rng.random() < NOT_APPLICABLE_RATE:
                    answers[slug] = "na"
                    continue
                points = scales[item["scale"]]["points"]
                value = _to_scale(health[item["area"]] + float(rng.normal(0, ITEM_NOISE_SD)), points)
                answers[slug] = points + 1 - value if item.get("reverse", False) else value
            elif role == "practice":
                family = [health[area] for area in family_areas.get(item.get("practice_family", ""), [])]
                answers[slug] = _practice(rng, float(np.mean(family)) if family else BASELINE)
            elif role == "top-areas":
                answers[slug] = _top_areas(rng, health, int(item.get("max_choices", 3)))
            elif role == "change":
                answers[slug] = _change(rng, float(np.mean(list(health.values()))))
            elif role == "levels":
                answers[slug] = _levels(rng, [option["slug"] for option in item.get("options", [])])

    reported = profile.dimension_answers()
    for dimension in definition["dimensions"]:
        reported_value = reported.get(dimension["slug"])
        if reported_value is None or rng.random() < SKIP_RATE:
            continue
        if isinstance(reported_value, list):
            order = [option["slug"] for option in dimension["options"]]
            reported_value = [option for option in order if option in reported_value]
        answers[dimension["slug"]] = reported_value
    return answers
