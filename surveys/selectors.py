"""Reads for the collection side."""

from functools import lru_cache
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from surveys.instruments import InstrumentSpec
from surveys.models import Coalition, Instrument, Invitation, Member, Wave


def coalition_has_open_wave(*, coalition: Coalition) -> bool:
    return coalition.waves.filter(status=Wave.Status.OPEN).exists()


def invitation_for_submission(*, token_hash: str) -> Invitation | None:
    """Return the invitation with this token hash and what a submission needs, or None."""
    return (
        Invitation.objects.select_related("wave__coalition", "wave__instrument", "member__sector")
        .only(
            "id",
            "is_used",
            "wave__id",
            "wave__status",
            "wave__closes_at",
            "wave__instrument__id",
            "wave__instrument__checksum",
            "wave__sectors_snapshot",
            "wave__label",
            "wave__coalition__id",
            "wave__coalition__is_free_text_enabled",
            "wave__coalition__default_language",
            "member__id",
            "member__language",
            "member__sector__slug",
        )
        .filter(token_hash=token_hash)
        .first()
    )


@lru_cache(maxsize=64)
def _instrument_spec(instrument_id: int, checksum: str) -> InstrumentSpec:
    definition = Instrument.objects.values_list("definition", flat=True).get(pk=instrument_id)
    return InstrumentSpec.from_definition(definition)


def instrument_spec(*, instrument_id: int, checksum: str | None = None) -> InstrumentSpec:
    """Return the parsed instrument, cached per process.

    Keyed by content checksum too: stored versions never change, but the
    cache must not outlive a test database that reuses ids. Callers that
    loaded the checksum already pass it and save a query.
    """
    if checksum is None:
        checksum = Instrument.objects.values_list("checksum", flat=True).get(pk=instrument_id)
    return _instrument_spec(instrument_id, checksum)


def wave_sectors(*, wave: Wave) -> list[dict[str, Any]]:
    """Return the sectors a wave asks about: its frozen snapshot, or the live list for a draft."""
    if wave.sectors_snapshot:
        return list(wave.sectors_snapshot)
    return [
        {"slug": sector.slug, "names": sector.names, "is_sensitive": sector.is_sensitive}
        for sector in wave.coalition.sectors.filter(is_active=True).order_by("position", "slug")
    ]


def wave_participation(*, wave: Wave) -> dict[str, int | None]:
    """Return the invited count and the responses so far, rounded down to a multiple of 5.

    PRIVACY.md rule 6: while a wave is open only this rounded overall figure
    is shown, so that watching it change does not date anyone's submission.
    """
    used = wave.invitations.filter(is_used=True).count()
    rounded = used - used % 5
    rate = None
    if wave.invited_count:
        rate = int(100 * rounded / wave.invited_count)
    return {"invited": wave.invited_count, "responses": rounded, "rate": rate}


def memberships_for_user(*, user: User | AnonymousUser) -> QuerySet[Member]:
    if not user.is_authenticated:
        return Member.objects.none()
    return Member.objects.filter(user=user, is_active=True).select_related("coalition")


def coalitions_for_steward(*, user: User | AnonymousUser) -> QuerySet[Coalition]:
    """Return the coalitions a user may manage: all for superusers, else where they steward."""
    if not user.is_authenticated:
        return Coalition.objects.none()
    if getattr(user, "is_superuser", False):
        return Coalition.objects.all()
    return Coalition.objects.filter(
        members__user=user, members__role=Member.Role.STEWARD, members__is_active=True
    ).distinct()


def waves_for_user(*, user: User | AnonymousUser) -> QuerySet[Wave]:
    """Return the waves of the coalitions where the user has a non-member role."""
    if not user.is_authenticated:
        return Wave.objects.none()
    if getattr(user, "is_superuser", False):
        return Wave.objects.select_related("coalition").all()
    coalition_ids = Member.objects.filter(
        user=user,
        is_active=True,
        role__in=[Member.Role.STEWARD, Member.Role.LEADER, Member.Role.RESEARCHER],
    ).values("coalition_id")
    return Wave.objects.select_related("coalition").filter(coalition_id__in=coalition_ids)


# --- Roles ----------------------------------------------------------------------
# One home for "who holds which role in a coalition": the pages, the admin and the
# services of separation of duties (PRIVACY.md rule 9a) all ask here.


def coalition_roles(*, user: User | AnonymousUser, coalition: Coalition) -> set[str]:
    """Return the roles the user's active roster entries hold in the coalition (no superuser magic)."""
    if not user.is_authenticated:
        return set()
    return set(
        Member.objects.filter(user=user, coalition=coalition, is_active=True).values_list("role", flat=True).distinct()
    )


def is_leader(*, user: User | AnonymousUser, coalition: Coalition) -> bool:
    return Member.Role.LEADER in coalition_roles(user=user, coalition=coalition)


def is_steward(*, user: User | AnonymousUser, coalition: Coalition) -> bool:
    return Member.Role.STEWARD in coalition_roles(user=user, coalition=coalition)


def coalitions_for_leader(*, user: User | AnonymousUser) -> QuerySet[Coalition]:
    """Return the coalitions where the user is a leader (all, for superusers)."""
    if not user.is_authenticated:
        return Coalition.objects.none()
    if getattr(user, "is_superuser", False):
        return Coalition.objects.all()
    return Coalition.objects.filter(
        members__user=user, members__role=Member.Role.LEADER, members__is_active=True
    ).distinct()


def coalitions_led(*, user: User | AnonymousUser) -> QuerySet[Coalition]:
    """Return the coalitions where the user's own roster entry is a leader's (none for a bare superuser)."""
    if not user.is_authenticated:
        return Coalition.objects.none()
    return Coalition.objects.filter(
        members__user=user, members__role=Member.Role.LEADER, members__is_active=True
    ).distinct()


def access_requests_awaiting(*, user: User) -> list[tuple[Coalition, int]]:
    """Return, per coalition the user leads, how many research access requests they could decide on."""
    # Through the relation, not the exports app: exports builds on surveys, not the reverse.
    counts = [
        (
            coalition,
            coalition.research_grants.filter(status="requested")
            .exclude(researcher=user)
            .exclude(requested_by_user=user)
            .count(),
        )
        for coalition in coalitions_led(user=user)
    ]
    return [(coalition, count) for coalition, count in counts if count]


def coalitions_for_oversight(*, user: User | AnonymousUser) -> QuerySet[Coalition]:
    """Return the coalitions whose roster history, access requests and audit log the user reads.

    Stewards and leaders of the coalition, and platform admins: roster changes are visible beyond
    the steward who makes them (PRIVACY.md rule 9).
    """
    if not user.is_authenticated:
        return Coalition.objects.none()
    if getattr(user, "is_superuser", False):
        return Coalition.objects.all()
    return Coalition.objects.filter(
        members__user=user,
        members__role__in=[Member.Role.STEWARD, Member.Role.LEADER],
        members__is_active=True,
    ).distinct()


def has_shaped_roster(*, user: User, coalition: Coalition) -> bool:
    """Return whether the user steward the coalition or ever changed its roster or sectors."""
    return is_steward(user=user, coalition=coalition) or coalition.roster_changes.filter(actor_user=user).exists()


def role_combination_approved(*, user: User, coalition: Coalition) -> bool:
    """Return whether a platform admin approved that the user shapes the roster and receives microdata."""
    return coalition.role_combinations.filter(user=user).exists()


def wave_invited_reach(*, wave: Wave) -> dict[str, int]:
    """Return how many people were invited to the wave, and from how many sectors, in one query.

    Counted from the wave's invitations: they are created once, at opening
    (PRIVACY.md rule 9), so `people` equals `wave.invited_count`, and members'
    sectors are frozen while the wave is open.
    """
    from django.db.models import Count

    return Invitation.objects.filter(wave_id=wave.pk).aggregate(
        people=Count("id"), sectors=Count("member__sector_id", distinct=True)
    )
