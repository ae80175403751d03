"""Names shown on the dashboards: areas, sectors, dimensions and groups, in the reader's language."""

from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from surveys.instruments import localized_text
from surveys.models import Wave

# The fixed set of breakdown dimensions (PRIVACY.md rule 5), with short names for headings.
DIMENSION_NAMES: dict[str, Promise] = {
    "sector": _("Sector"),
    "gender": _("Gender"),
    "race-ethnicity": _("Race/ethnicity"),
    "financial": _("Financial situation"),
    "pay-status": _("Paid or volunteer"),
    "org-budget": _("Organization budget"),
    "role-level": _("Role"),
    "lived-experience": _("Lived experience"),
    "age": _("Age"),
    "tenure": _("Years in the coalition"),
}
PRACTICE_FAMILIES: dict[str, Promise] = {
    "strategic-planning": _("Strategic planning"),
    "communication-organizing": _("Communication & organizing"),
    "shared-leadership": _("Shared leadership"),
}


class Names:
    """Look up display names for one wave, from its instrument and frozen sectors (no query)."""

    def __init__(self, wave: Wave, language: str) -> None:
        definition: dict[str, Any] = wave.instrument.definition
        self.language = language
        self.areas: dict[str, dict[str, Any]] = {area["slug"]: area for area in definition.get("areas", [])}
        self.sectors: dict[str, dict[str, Any]] = {sector["slug"]: sector for sector in wave.sectors_snapshot or []}
        self.options: dict[str, dict[str, str]] = {
            dimension["slug"]: {
                option["slug"]: localized_text(option["label"], language) for option in dimension.get("options", [])
            }
            for dimension in definition.get("dimensions", [])
        }

    def dimensions(self) -> list[str]:
        """Return the wave's breakdown dimensions: sector, then the instrument's, in the fixed set's order."""
        return ["sector", *[slug for slug in DIMENSION_NAMES if slug in self.options]]

    def area(self, slug: str) -> str:
        area = self.areas.get(slug)
        if slug == "overall":
            return gettext("Overall health")
        return localized_text(area["name"], self.language) if area else slug

    def practice(self, slug: str) -> tuple[str, str]:
        """Return the practice family's name and the practice text that addresses an area."""
        area = self.areas.get(slug) or {}
        family = PRACTICE_FAMILIES.get(area.get("practice_family", ""), "")
        return str(family), localized_text(area.get("practice") or {}, self.language) if area.get("practice") else ""

    def sector(self, slug: str) -> str:
        sector = self.sectors.get(slug)
        return localized_text(sector["names"], self.language) if sector else slug

    def is_sensitive_sector(self, slug: str) -> bool:
        return bool((self.sectors.get(slug) or {}).get("is_sensitive"))

    @staticmethod
    def dimension(slug: str) -> str:
        return str(DIMENSION_NAMES.get(slug, slug))

    def group(self, dimension: str, group: str) -> str:
        """Return a group's name; engine groups "alone:<option>" and "more-than-one" get their own wording."""
        if dimension == "sector":
            return self.sector(group)
        if group == "more-than-one":
            return gettext("More than one")
        if group.startswith("alone:"):
            option = group.removeprefix("alone:")
            return gettext("%(option)s (only)") % {"option": self.options.get(dimension, {}).get(option, option)}
        return self.options.get(dimension, {}).get(group, group)
