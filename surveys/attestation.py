"""The roster a wave opens on, confirmed by a second person (PRIVACY.md rule 9).

A steward who controls several roster addresses could otherwise open a wave
on a roster of one genuine member and their own addresses, and subtract
their known answers from the published means. So before a wave opens, a
leader of the coalition - never somebody who changed the roster since the
previous wave - reviews what the wave will be sent to (`roster_review`) and
confirms it (`roster_attest`). The confirmation holds for the roster
revision it saw: any change of the roster or the sectors afterwards voids
it, and `wave_open` refuses a wave without a valid one, whoever opens it
(a page, the admin, the command line or the beat schedule).
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from surveys import selectors
from surveys.errors import NotAllowed, ServiceError
from surveys.models import AuditEvent, Coalition, Invitation, Member, RosterAttestation, RosterChange, Wave

# Additions within this many days before the review count as "shortly before opening".
RECENT_DAYS = 14
# One account adding at least this share of the roster, or of one sector, recently is worth a look.
RECENT_SHARE_OF_ROSTER = 0.2
RECENT_SHARE_OF_SECTOR = 0.5
RECENT_MINIMUM = 3
# This many new addresses on one domain are worth a look (several offices of one organisation
# share a domain too: the leader judges, the product only points).
SHARED_DOMAIN_MINIMUM = 5


@dataclass
class SectorRow:
    slug: str
    name: str
    members: int
    previous: int | None
    added: int = 0
    removed: int = 0
    moved: int = 0
    threshold: int = 5

    @property
    def is_below_threshold(self) -> bool:
        return 0 < self.members < self.threshold


@dataclass
class ChangeGroup:
    """Roster changes of one account, of one kind, in one sector."""

    actor: str
    action: str
    action_label: str
    sector: str
    count: int
    first: datetime
    last: datetime


@dataclass
class RosterReview:
    wave: Wave
    revision: int
    previous_wave: Wave | None
    sectors: list[SectorRow]
    changes: list[ChangeGroup]
    warnings: list[str]
    changer_ids: set[int] = field(default_factory=set)
    attestation: RosterAttestation | None = None
    # Each member the wave will be sent to, with their sector: kept with the attestation, so that
    # the next wave's review compares with the roster as it was (not as it is).
    members: dict[int, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(row.members for row in self.sectors)

    @property
    def sectors_with_members(self) -> int:
        return sum(1 for row in self.sectors if row.members)

    def as_json(self) -> dict[str, Any]:
        """Return what the leader was shown, to keep with the attestation."""
        return {
            "revision": self.revision,
            "previous_wave": self.previous_wave.label if self.previous_wave else None,
            "total": self.total,
            "sectors": [
                {
                    "slug": row.slug,
                    "members": row.members,
                    "added": row.added,
                    "removed": row.removed,
                    "moved": row.moved,
                }
                for row in self.sectors
            ],  # fmt: skip
            "warnings": self.warnings,
            "members": {str(member_id): slug for member_id, slug in self.members.items()},
        }


def wave_previous_opened(*, wave: Wave) -> Wave | None:
    """Return the coalition's latest wave that opened before this one (open or closed)."""
    return (
        wave.coalition.waves.exclude(pk=wave.pk).exclude(status=Wave.Status.DRAFT).order_by("-opens_at", "-pk").first()
    )


def _changes_since(*, coalition: Coalition, previous: Wave | None) -> list[RosterChange]:
    changes = RosterChange.objects.filter(coalition=coalition)
    if previous is not None and previous.opened_revision is not None:
        changes = changes.filter(revision__gt=previous.opened_revision)
    return list(changes.order_by("changed_at", "id"))


def roster_changers(*, wave: Wave) -> set[int]:
    """Return the ids of the logins that changed the roster or sectors since the previous wave opened."""
    previous = wave_previous_opened(wave=wave)
    return {
        change.actor_user_id
        for change in _changes_since(coalition=wave.coalition, previous=previous)
        if change.actor_user_id is not None
    }


def roster_review(*, wave: Wave, now: datetime | None = None) -> RosterReview:
    """Return what a leader confirms before the wave opens: counts, changes, by whom, and warnings."""
    now = now or timezone.now()
    coalition = wave.coalition
    language = coalition.default_language
    previous = wave_previous_opened(wave=wave)
    members = list(
        Member.objects.filter(
            coalition=coalition, is_active=True, sector__is_active=True, sector__coalition=coalition
        ).values_list("id", "email", "sector__slug")
    )
    previous_sector_of = _previous_roster(previous) if previous is not None else {}
    changes = _changes_since(coalition=coalition, previous=previous)

    rows: dict[str, SectorRow] = {}
    previous_slugs = set(previous_sector_of.values())
    for sector in coalition.sectors.order_by("position", "slug"):
        # Active sectors, and those the previous wave had members in (their people count as removed).
        if not sector.is_active and sector.slug not in previous_slugs:
            continue
        threshold = coalition.sensitive_cell_size if sector.is_sensitive else coalition.minimum_cell_size
        rows[sector.slug] = SectorRow(
            slug=sector.slug, name=sector.name(language), members=0, previous=None, threshold=threshold
        )
    for _member_id, _email, slug in members:
        rows[slug].members += 1
    if previous is not None:
        previous_counts = Counter(previous_sector_of.values())
        for row in rows.values():
            row.previous = previous_counts.get(row.slug, 0)
        current_sector_of = {member_id: slug for member_id, _email, slug in members}
        for member_id, slug in current_sector_of.items():
            before = previous_sector_of.get(member_id)
            if before is None:
                rows[slug].added += 1
            elif before != slug:
                rows[slug].moved += 1
        for member_id, slug in previous_sector_of.items():
            if member_id not in current_sector_of and slug in rows:
                rows[slug].removed += 1
    else:
        for row in rows.values():
            row.added = row.members

    groups: dict[tuple[str, str, str], list[RosterChange]] = defaultdict(list)
    for change in changes:
        groups[(change.actor or _("command line"), change.action, change.sector)].append(change)
    labels = dict(RosterChange.Action.choices)
    change_groups = [
        ChangeGroup(
            actor=actor,
            action=action,
            action_label=str(labels.get(action, action)),
            sector=rows[sector].name if sector in rows else sector,
            count=len(items),
            first=items[0].changed_at,
            last=items[-1].changed_at,
        )
        for (actor, action, sector), items in groups.items()
    ]
    change_groups.sort(key=lambda group: (group.first, group.actor, group.sector))

    review = RosterReview(
        wave=wave,
        revision=coalition.roster_revision,
        previous_wave=previous,
        sectors=list(rows.values()),
        changes=change_groups,
        warnings=[],
        changer_ids={change.actor_user_id for change in changes if change.actor_user_id is not None},
        attestation=wave_attestation_valid(wave=wave),
    )
    review.members = {member_id: slug for member_id, _email, slug in members}
    new_members = {email: slug for member_id, email, slug in members if member_id not in previous_sector_of}
    review.warnings = _warnings(review=review, changes=changes, rows=rows, new_members=new_members, now=now)
    return review


def _previous_roster(previous: Wave) -> dict[int, str]:
    """Return the sector of each member the previous wave was sent to, as the roster stood when it opened.

    Taken from the confirmation the wave opened on; for a wave opened before confirmations kept it,
    from its invitations with each member's sector today.
    """
    opened_on = None
    if previous.opened_revision is not None:
        opened_on = previous.attestations.filter(revision=previous.opened_revision).order_by("-attested_at").first()
    if opened_on is not None and isinstance(opened_on.summary.get("members"), dict):
        return {int(member_id): str(slug) for member_id, slug in opened_on.summary["members"].items()}
    return dict(Invitation.objects.filter(wave=previous).values_list("member_id", "member__sector__slug"))


def _warnings(
    *,
    review: RosterReview,
    changes: list[RosterChange],
    rows: dict[str, SectorRow],
    new_members: dict[str, str],
    now: datetime,
) -> list[str]:
    warnings: list[str] = []
    total = review.total
    # Who recently brought each new member in: an addition, or a reactivation of an old entry.
    by_actor: dict[str, dict[str, str]] = defaultdict(dict)
    for change in changes:
        if change.email in new_members and change.changed_at >= now - timedelta(days=RECENT_DAYS):
            if change.action in (RosterChange.Action.DEACTIVATED, RosterChange.Action.DELETED):
                continue
            by_actor[change.actor or _("command line")][change.email] = new_members[change.email]
    for actor, brought in sorted(by_actor.items()):
        added = list(brought.values())
        if len(added) >= RECENT_MINIMUM and total and len(added) >= RECENT_SHARE_OF_ROSTER * total:
            warnings.append(
                _(
                    "%(actor)s added %(count)d of the %(total)d people on the roster in the last %(days)d days. "
                    "Check that they are all genuine members."
                )
                % {"actor": actor, "count": len(added), "total": total, "days": RECENT_DAYS}
            )
            continue
        for slug, count in sorted(Counter(added).items()):
            row = rows.get(slug)
            if row and count >= RECENT_MINIMUM and count >= RECENT_SHARE_OF_SECTOR * row.members:
                warnings.append(
                    _(
                        "%(actor)s added %(count)d of the %(total)d people in %(sector)s in the last %(days)d days. "
                        "Check that they are all genuine members."
                    )
                    % {"actor": actor, "count": count, "total": row.members, "sector": row.name, "days": RECENT_DAYS}
                )
    domains = Counter(email.rsplit("@", 1)[-1].lower() for email in new_members if "@" in email)
    for domain, count in sorted(domains.items()):
        if count >= SHARED_DOMAIN_MINIMUM:
            warnings.append(
                _("%(count)d new addresses share the domain %(domain)s. Check that each is a different person.")
                % {"count": count, "domain": domain}
            )
    if review.previous_wave is not None:
        was_sensitive = {
            sector["slug"] for sector in review.previous_wave.sectors_snapshot if sector.get("is_sensitive")
        }
        now_sensitive = set(
            review.wave.coalition.sectors.filter(is_active=True, is_sensitive=True).values_list("slug", flat=True)
        )
        for slug in sorted(was_sensitive - now_sensitive):
            name = rows[slug].name if slug in rows else slug
            warnings.append(
                _(
                    "%(sector)s is no longer marked sensitive: its results will be shown from %(k)d answers "
                    "instead of %(sensitive_k)d."
                )
                % {
                    "sector": name,
                    "k": review.wave.coalition.minimum_cell_size,
                    "sensitive_k": review.wave.coalition.sensitive_cell_size,
                }
            )
    small = [row for row in review.sectors if row.is_below_threshold]
    if small:
        warnings.append(
            ngettext(
                "Results for %(sectors)s will be hidden: the sector has fewer members than the reporting threshold.",
                "Results for these %(count)d sectors will be hidden: each has fewer members than the reporting "
                "threshold: %(sectors)s.",
                len(small),
            )
            % {"count": len(small), "sectors": ", ".join(f"{row.name} ({row.members})" for row in small)}
        )
    k = review.wave.coalition.minimum_cell_size
    with_members = review.sectors_with_members
    if total < 3 * k or (with_members and 2 * len(small) >= with_members):
        warnings.append(
            _(
                "Almost all results of this wave will be hidden: with %(total)d people on the roster, few groups "
                "can reach %(k)d answers. A small roster also makes each answer easier to guess."
            )
            % {"total": total, "k": k}
        )
    return warnings


def wave_attestation_valid(*, wave: Wave) -> RosterAttestation | None:
    """Return the wave's attestation of the coalition's current roster revision, or None."""
    return (
        RosterAttestation.objects.filter(wave=wave, revision=wave.coalition.roster_revision)
        .order_by("-attested_at", "-id")
        .first()
    )


def wave_assert_attested(*, wave: Wave) -> RosterAttestation:
    """Return the wave's valid attestation; refuse to go on without one."""
    attestation = wave_attestation_valid(wave=wave)
    if attestation is None:
        if wave.attestations.exists():
            raise ServiceError(
                _(
                    "The roster changed after a leader confirmed it, so the confirmation no longer holds. "
                    "A leader must review and confirm the roster again before the wave can open."
                )
            )
        raise ServiceError(
            _(
                "A coalition leader must review and confirm the roster before the wave can open, and it cannot "
                "be the person who last changed the roster."
            )
        )
    return attestation


@transaction.atomic
def roster_attest(*, wave_id: int, by: User, revision: int, now: datetime | None = None) -> RosterAttestation:
    """Record that `by` confirmed the roster revision `revision` for a draft wave.

    `by` must be a leader of the coalition (or a platform admin) and must not have changed the
    roster or the sectors since the previous wave opened. `revision` is what they reviewed: if the
    roster changed meanwhile, nothing is recorded.
    """
    wave = Wave.objects.select_for_update().select_related("coalition").get(pk=wave_id)
    coalition = Coalition.objects.select_for_update().get(pk=wave.coalition_id)
    wave.coalition = coalition
    if wave.status != Wave.Status.DRAFT:
        raise ServiceError(_("Only the roster of a wave that has not opened yet can be confirmed."))
    if not (by.is_superuser or selectors.is_leader(user=by, coalition=coalition)):
        raise NotAllowed(_("Only a leader of the coalition, or a platform admin, can confirm its roster."))
    if revision != coalition.roster_revision:
        raise ServiceError(_("The roster changed while you were reviewing it. Review it again, then confirm."))
    review = roster_review(wave=wave, now=now)
    if by.pk in review.changer_ids:
        raise NotAllowed(
            _(
                "You changed this roster since the last wave, so somebody else must confirm it: another leader "
                "of the coalition or a platform admin."
            )
        )
    name = str(by.get_username())[:150]
    attestation = RosterAttestation.objects.create(
        wave=wave, revision=revision, attested_by=by, attested_by_name=name, summary=review.as_json()
    )
    AuditEvent.objects.create(
        coalition=coalition,
        action=AuditEvent.Action.ROSTER_ATTESTED,
        actor=name,
        detail=(
            _("Roster of wave %(wave)s confirmed: %(total)d people in %(sectors)d sectors, %(warnings)d warnings.")
            % {
                "wave": wave.label,
                "total": review.total,
                "sectors": review.sectors_with_members,
                "warnings": len(review.warnings),
            }
        )[:300],
    )
    return attestation


def confirmations_awaited(*, user: User) -> list[Wave]:
    """Return the draft waves whose roster this leader could confirm and nobody has (the home page's to-do)."""
    waves = []
    # Leaders only: a platform admin may confirm too, but the to-do belongs to the coalition's leaders.
    coalitions = selectors.coalitions_led(user=user)
    for wave in Wave.objects.filter(status=Wave.Status.DRAFT, coalition__in=coalitions).select_related("coalition"):
        if wave_attestation_valid(wave=wave) is None and user.pk not in roster_changers(wave=wave):
            waves.append(wave)
    return sorted(waves, key=lambda wave: (wave.opens_at, wave.pk))
