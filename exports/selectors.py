"""Reads of the exports side: grants, the current agreement, exportable waves, a wave's published groups."""

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Case, QuerySet, When

from analytics.engine.publication import cell_id
from analytics.models import AnalyticsRun, PublishedTable
from analytics.selectors import cell_fields, run_published
from exports.models import AgreementAcceptance, DataUseAgreement, Export, ResearchGrant
from surveys.models import AuditEvent, Coalition, Member, Wave


def authenticated(user: User | AnonymousUser) -> User:
    """Return the logged-in user; refuse anonymous ones (the views require a login before this)."""
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def agreement_current() -> DataUseAgreement | None:
    """Return the data-use agreement in force: its highest version."""
    return DataUseAgreement.objects.order_by("-version").first()


def agreement_accepted(*, user: User | AnonymousUser, agreement: DataUseAgreement | None = None) -> bool:
    """Return whether the user accepted `agreement` (by default the current one)."""
    agreement = agreement or agreement_current()
    if agreement is None or not user.is_authenticated:
        return False
    return AgreementAcceptance.objects.filter(user=user, agreement=agreement).exists()


def grants_active(*, user: User | AnonymousUser) -> QuerySet[ResearchGrant]:
    """Return the user's grants that a second person approved and nobody revoked."""
    if not user.is_authenticated:
        return ResearchGrant.objects.none()
    return ResearchGrant.objects.filter(researcher=user, status=ResearchGrant.Status.ACTIVE).select_related("coalition")


def coalitions_granted(*, user: User | AnonymousUser) -> QuerySet[Coalition]:
    """Return the coalitions whose closed waves the user may export."""
    return Coalition.objects.filter(pk__in=grants_active(user=user).values("coalition_id")).order_by("name")


def waves_exportable(*, user: User | AnonymousUser) -> QuerySet[Wave]:
    """Return the closed waves of the user's granted coalitions that have published results."""
    return (
        Wave.objects.filter(
            coalition__in=coalitions_granted(user=user),
            status=Wave.Status.CLOSED,
            analytics_runs__status=AnalyticsRun.Status.SUCCEEDED,
        )
        .distinct()
        .select_related("coalition")
        .order_by("coalition__name", "opens_at", "pk")
    )


def exports_for_user(*, user: User | AnonymousUser) -> QuerySet[Export]:
    """Return the user's own exports, newest first (nobody else's, whatever their role)."""
    if not user.is_authenticated:
        return Export.objects.none()
    return Export.objects.filter(researcher=user).prefetch_related("waves__coalition").order_by("-requested_at")


def export_for_user(*, user: User | AnonymousUser, export_id: Any) -> Export | None:
    """Return the user's export with this id, or None (someone else's export does not exist for them)."""
    return exports_for_user(user=user).filter(pk=export_id).first()


def published_group_ids(*, run: AnalyticsRun) -> frozenset[str]:
    """Return the disclosure-control ids of the groups the run's stored tables show in at least one measure."""
    shown: set[str] = set()
    for dimensions, cells in PublishedTable.objects.filter(run=run).values_list("dimensions", "cells"):
        for row in cells:
            if len(row) > 1 and not cell_fields(row)["suppressed"]:
                shown.add(cell_id(dimensions, row[0]))
    return frozenset(shown)


def wave_published_run(*, wave: Wave) -> AnalyticsRun | None:
    """Return the run whose tables the wave's dashboards show."""
    return run_published(wave=wave)


def audit_events_for_coalition(*, coalition: Coalition) -> QuerySet[AuditEvent]:
    """Return the coalition's audit log, newest first."""
    return AuditEvent.objects.filter(coalition=coalition).order_by("-happened_at", "-id")


def grants_of_coalition(*, coalition: Coalition) -> QuerySet[ResearchGrant]:
    """Return the coalition's access requests and grants, the waiting ones first."""
    return (
        ResearchGrant.objects.filter(coalition=coalition)
        .select_related("researcher")
        .order_by(
            Case(When(status=ResearchGrant.Status.REQUESTED, then=0), default=1),
            "-requested_at",
            "-pk",
        )
    )


def researcher_candidates(*, coalition: Coalition) -> QuerySet[User]:
    """Return the logins that hold an active researcher role on the coalition's roster."""
    return (
        User.objects.filter(
            memberships__coalition=coalition, memberships__role=Member.Role.RESEARCHER, memberships__is_active=True
        )
        .distinct()
        .order_by("username")
    )
