"""Researcher export pages: the agreement, requesting an export, following it, downloading it.

Thin views: selector or service → template. A researcher sees only their own
exports; another user's export id is a 404.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from exports import selectors, services
from exports.api import export_file_response
from surveys import selectors as survey_selectors
from surveys.errors import ServiceError


@login_required
@require_http_methods(["GET", "POST"])
def export_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            wave_ids = [int(value) for value in request.POST.getlist("waves")]
        except ValueError:
            wave_ids = []
        try:
            export = services.export_request(user=selectors.authenticated(request.user), wave_ids=wave_ids)
        except services.ExportError as error:
            messages.error(request, str(error))
            return redirect("exports")
        messages.success(request, _("Your export has been requested."))
        return redirect("export", export_id=export.pk)
    agreement = selectors.agreement_current()
    return render(
        request,
        "exports/index.html",
        {
            "grants": selectors.grants_active(user=request.user),
            "waves": selectors.waves_exportable(user=request.user),
            "exports": selectors.exports_for_user(user=request.user),
            "agreement": agreement,
            "accepted": selectors.agreement_accepted(user=request.user, agreement=agreement),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def agreement(request: HttpRequest) -> HttpResponse:
    current = selectors.agreement_current()
    if current is None:
        raise Http404
    if request.method == "POST":
        if request.POST.get("accept") != "yes":
            messages.error(request, _("Tick the box to accept the agreement."))
            return redirect("exports-agreement")
        try:
            services.agreement_accept(
                user=selectors.authenticated(request.user), version=int(request.POST.get("version", "0") or 0)
            )
        except (services.ExportError, ValueError) as error:
            messages.error(request, str(error))
            return redirect("exports-agreement")
        messages.success(request, _("Thank you. You accepted the data-use agreement."))
        return redirect("exports")
    language = get_language() or "en"
    return render(
        request,
        "exports/agreement.html",
        {
            "agreement": current,
            "title": current.localized_title(language),
            "paragraphs": [part.strip() for part in current.localized_text(language).split("\n\n") if part.strip()],
            "accepted": selectors.agreement_accepted(user=request.user, agreement=current),
        },
    )


@login_required
@require_GET
def export_detail(request: HttpRequest, export_id: str) -> HttpResponse:
    export = selectors.export_for_user(user=request.user, export_id=export_id)
    if export is None:
        raise Http404
    left = max(0, settings.EXPORT_MAX_DOWNLOADS - export.downloads) if export.is_downloadable() else 0
    return render(request, "exports/detail.html", {"export": export, "downloads_left": left})


@login_required
@require_POST
def export_download(request: HttpRequest, export_id: str) -> HttpResponse | FileResponse:
    """Download by POST (a form button): a link that a browser or a proxy prefetches would use up a download."""
    if selectors.export_for_user(user=request.user, export_id=export_id) is None:
        raise Http404
    try:
        export, path = services.export_download(export_id=export_id, user=selectors.authenticated(request.user))
    except services.ExportError as error:
        messages.error(request, str(error))
        return redirect("export", export_id=export_id)
    return export_file_response(export, path)


@login_required
@require_POST
def export_retry(request: HttpRequest, export_id: str) -> HttpResponse:
    export = selectors.export_for_user(user=request.user, export_id=export_id)
    if export is None:
        raise Http404
    try:
        services.export_retry(export=export, user=selectors.authenticated(request.user))
    except services.ExportError as error:
        messages.error(request, str(error))
    return redirect("export", export_id=export_id)


# --- Research access of a coalition: requests by stewards, decisions by a second person ----------


@login_required
@require_http_methods(["GET", "POST"])
def access(request: HttpRequest, slug: str) -> HttpResponse:
    """List a coalition's access requests and grants; request, approve, refuse or revoke (PRIVACY.md rule 9a)."""
    coalition = get_object_or_404(survey_selectors.coalitions_for_oversight(user=request.user), slug=slug)
    user = selectors.authenticated(request.user)
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "request":
                researcher = (
                    selectors.researcher_candidates(coalition=coalition)
                    .filter(pk=_posted_id(request, "researcher"))
                    .first()
                )
                if researcher is None:
                    raise ServiceError(_("Choose a researcher from the coalition's roster."))
                services.grant_request(
                    researcher=researcher, coalition=coalition, by=user, reason=request.POST.get("reason", "")
                )
                messages.success(request, _("Access requested. A leader or a platform admin must now approve it."))
            elif action in ("approve", "refuse", "revoke"):
                grant = get_object_or_404(coalition.research_grants, pk=_posted_id(request, "grant"))
                decide = {
                    "approve": services.grant_approve,
                    "refuse": services.grant_refuse,
                    "revoke": services.grant_revoke,
                }[action]
                decide(grant=grant, by=user)
                messages.success(request, _("Done."))
            else:
                raise ServiceError(_("Unknown action."))
        except ServiceError as error:
            messages.error(request, str(error))
        return redirect("access", slug=slug)
    grants = list(selectors.grants_of_coalition(coalition=coalition))
    rows = [{"grant": grant, "may_decide": services.grant_can_decide(grant=grant, user=user)} for grant in grants]
    roles = survey_selectors.coalition_roles(user=user, coalition=coalition)
    return render(
        request,
        "exports/access.html",
        {
            "coalition": coalition,
            "rows": rows,
            "candidates": selectors.researcher_candidates(coalition=coalition).exclude(pk=user.pk),
            "may_request": user.is_superuser or bool(roles & {"steward", "leader"}),
            "may_revoke": user.is_superuser or bool(roles & {"steward", "leader"}),
        },
    )


def _posted_id(request: HttpRequest, name: str) -> int:
    """Return a posted id; anything that is not a whole number matches nothing (0)."""
    value = request.POST.get(name, "")
    return int(value) if value.isdigit() else 0
