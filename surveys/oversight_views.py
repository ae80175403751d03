"""Pages where a coalition's leaders oversee what its stewards do (PRIVACY.md rules 9 and 9a).

- the coalition page: its waves and whether each roster is confirmed, the access requests waiting;
- the roster review of a draft wave, where a leader (never somebody who changed the roster since
  the previous wave) confirms the roster it will open on;
- the roster-change history per wave, aggregated per sector, with who made each change;
- the audit log.

Stewards and leaders of the coalition and platform admins read them; only leaders and admins
confirm. Every write goes through a service.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from surveys import attestation, selectors
from surveys.errors import ServiceError
from surveys.models import AuditEvent, Coalition, Wave

AUDIT_PAGE_SIZE = 50


def _coalition_for(request: HttpRequest, slug: str) -> Coalition:
    return get_object_or_404(selectors.coalitions_for_oversight(user=request.user), slug=slug)


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


def _may_confirm(user: User, coalition: Coalition) -> bool:
    return bool(user.is_superuser) or selectors.is_leader(user=user, coalition=coalition)


@login_required
def coalition_overview(request: HttpRequest, slug: str) -> HttpResponse:
    """List the coalition's waves with the state of their roster confirmation, and the requests waiting."""
    coalition = _coalition_for(request, slug)
    waves = []
    for wave in coalition.waves.select_related("instrument").order_by("-opens_at", "-pk"):
        confirmed = attestation.wave_attestation_valid(wave=wave) if wave.status == Wave.Status.DRAFT else None
        waves.append({"wave": wave, "confirmed": confirmed})
    user = _user(request)
    return render(
        request,
        "surveys/coalition_overview.html",
        {
            "coalition": coalition,
            "waves": waves,
            # Through the relation, not the exports app: exports builds on surveys, not the reverse.
            "waiting": coalition.research_grants.filter(status="requested").count(),
            "may_confirm": _may_confirm(user, coalition),
            "is_steward": user.is_superuser or selectors.is_steward(user=user, coalition=coalition),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def roster_review(request: HttpRequest, slug: str, wave_id: int) -> HttpResponse:
    """Show what a draft wave will be sent to; let a leader who did not change the roster confirm it."""
    coalition = _coalition_for(request, slug)
    wave = get_object_or_404(coalition.waves.select_related("coalition"), pk=wave_id)
    user = _user(request)
    if request.method == "POST":
        if wave.status != Wave.Status.DRAFT:
            messages.error(request, _("Only the roster of a wave that has not opened yet can be confirmed."))
            return redirect("roster-review", slug=slug, wave_id=wave.pk)
        try:
            revision = int(request.POST.get("revision", ""))
        except ValueError:
            revision = -1
        if request.POST.get("confirm") != "yes":
            messages.error(request, _("Tick the box to say you reviewed the roster, then confirm."))
            return redirect("roster-review", slug=slug, wave_id=wave.pk)
        try:
            attestation.roster_attest(wave_id=wave.pk, by=user, revision=revision)
        except ServiceError as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request, _("You confirmed the roster of %(wave)s. The wave can open.") % {"wave": wave.label}
            )
        return redirect("roster-review", slug=slug, wave_id=wave.pk)
    review = attestation.roster_review(wave=wave) if wave.status == Wave.Status.DRAFT else None
    is_changer = review is not None and user.pk in review.changer_ids
    return render(
        request,
        "surveys/roster_review.html",
        {
            "coalition": coalition,
            "wave": wave,
            "review": review,
            "may_confirm": _may_confirm(user, coalition) and not is_changer,
            "is_changer": is_changer,
            "opened_on": wave.attestations.filter(revision=wave.opened_revision).first()
            if wave.opened_revision is not None
            else None,
        },
    )


@login_required
def roster_history(request: HttpRequest, slug: str) -> HttpResponse:
    """Show every roster change, grouped by the wave it came before, with who made it and in which sector."""
    coalition = _coalition_for(request, slug)
    waves = list(coalition.waves.exclude(status=Wave.Status.DRAFT).order_by("opens_at", "pk"))
    changes = list(coalition.roster_changes.order_by("changed_at", "id"))
    sectors = {sector.slug: sector.name(coalition.default_language) for sector in coalition.sectors.all()}
    periods = []
    start = -1  # changes logged before revisions were kept have revision 0
    for wave in [*waves, None]:
        end = wave.opened_revision if wave is not None and wave.opened_revision is not None else None
        items = [change for change in changes if change.revision > start and (end is None or change.revision <= end)]
        if wave is not None and end is None:
            continue  # a wave opened before revisions were kept: its changes fall in the next period
        groups: dict[tuple[str, str, str], int] = {}
        for change in items:
            key = (change.actor, str(change.get_action_display()), sectors.get(change.sector, change.sector))
            groups[key] = groups.get(key, 0) + 1
        periods.append(
            {
                "wave": wave,
                "groups": [
                    {"actor": actor or _("command line"), "action": action, "sector": sector, "count": count}
                    for (actor, action, sector), count in groups.items()
                ],
                "changes": items,
            }
        )
        if end is not None:
            start = end
    periods.reverse()
    return render(request, "surveys/roster_history.html", {"coalition": coalition, "periods": periods})


@login_required
def audit_log(request: HttpRequest, slug: str) -> HttpResponse:
    """Show the coalition's audit log to its stewards and leaders, newest first."""
    coalition = _coalition_for(request, slug)
    events = AuditEvent.objects.filter(coalition=coalition).order_by("-happened_at", "-id")
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "surveys/audit_log.html", {"coalition": coalition, "page": page})
