"""Leader dashboards: thin views over stored, suppressed results (analytics.selectors → template).

Access: a leader, steward or researcher of the wave's coalition. Anyone else
who is logged in gets 403; a wave outside the user's coalitions is a 404.
"""

import io
import re
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from analytics import selectors
from config.csv_safety import SafeWriter
from dashboards import pages
from dashboards.labels import Names
from surveys.models import Wave

RESULT_PAGES: dict[str, Callable[..., dict[str, Any]]] = {
    "heatmap": pages.heatmap,
    "pairs": pages.pairs,
    "gaps": pages.gaps,
    "trends": pages.trends,
}
CHART_PAGES = {
    "health": "overview",
    "participation-by-sector": "overview",
    "heatmap": "heatmap",
    "pairs": "pairs",
    "gaps": "gaps",
    "trends": "trends",
    "participation": "participation",
}


def download_stem(wave: Wave) -> str:
    """Return the start of a download's file name, from the coalition's slug and the wave's id only.

    Never from the wave label or a name: those are typed by people, and quotes,
    line breaks, "/" or ".html" in a Content-Disposition file name could
    change the header or the file saved.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", wave.coalition.slug.lower()).strip("-") or "coalition"
    return f"{slug}-wave-{wave.pk}"


def _wave(request: HttpRequest, wave_id: int) -> Wave:
    if not selectors.user_has_results_access(user=request.user):
        raise PermissionDenied(_("Your account has no access to results."))
    wave = selectors.waves_with_results_access(user=request.user).filter(pk=wave_id).first()
    if wave is None or wave.status == Wave.Status.DRAFT:
        raise Http404
    return wave


def _context(wave: Wave) -> pages.Context:
    run = selectors.run_published(wave=wave) if wave.status == Wave.Status.CLOSED else None
    return pages.Context(wave=wave, run=run, names=Names(wave, get_language() or "en"))


def _frame(request: HttpRequest, context: pages.Context, page: str) -> dict[str, Any]:
    waves = list(
        selectors.waves_with_results_access(user=request.user)
        .filter(coalition=context.wave.coalition)
        .exclude(status=Wave.Status.DRAFT)
        .order_by("-opens_at")
    )
    return {
        "wave": context.wave,
        "coalition": context.wave.coalition,
        "page": page,
        "waves": waves,
        "run": context.run,
        "download_stem": download_stem(context.wave),
    }


def _no_results(request: HttpRequest, context: pages.Context, page: str) -> HttpResponse:
    latest = selectors.run_latest(wave=context.wave)
    return render(
        request, "dashboards/no_results.html", {**_frame(request, context, page), "latest": latest}, status=200
    )


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """List the waves whose dashboards the user may read."""
    if not selectors.user_has_results_access(user=request.user):
        raise PermissionDenied(_("Your account has no access to results."))
    waves = list(
        selectors.waves_with_results_access(user=request.user)
        .exclude(status=Wave.Status.DRAFT)
        .order_by("coalition__name", "-opens_at")
    )
    return render(request, "dashboards/index.html", {"waves": waves, "page": "index"})


@login_required
@require_GET
def overview(request: HttpRequest, wave_id: int) -> HttpResponse:
    """The latest picture of a closed wave; an open wave shows only its participation."""
    wave = _wave(request, wave_id)
    if wave.status == Wave.Status.OPEN:
        return HttpResponseRedirect(reverse("dashboards:participation", args=[wave.pk]))
    context = _context(wave)
    if context.run is None:
        return _no_results(request, context, "overview")
    if request.GET:
        return HttpResponseBadRequest(_("This page takes no parameters."))
    return render(
        request, "dashboards/overview.html", {**_frame(request, context, "overview"), **pages.overview(context)}
    )


def _result_page(request: HttpRequest, wave_id: int, page: str) -> HttpResponse:
    wave = _wave(request, wave_id)
    context = _context(wave)
    if context.run is None:
        return _no_results(request, context, page)
    try:
        body = RESULT_PAGES[page](context, request.GET)
    except pages.BadQuery as refusal:
        return HttpResponseBadRequest(str(refusal))
    return render(request, f"dashboards/{page}.html", {**_frame(request, context, page), **body})


@login_required
@require_GET
def heatmap(request: HttpRequest, wave_id: int) -> HttpResponse:
    return _result_page(request, wave_id, "heatmap")


@login_required
@require_GET
def pairs(request: HttpRequest, wave_id: int) -> HttpResponse:
    return _result_page(request, wave_id, "pairs")


@login_required
@require_GET
def gaps(request: HttpRequest, wave_id: int) -> HttpResponse:
    return _result_page(request, wave_id, "gaps")


@login_required
@require_GET
def trends(request: HttpRequest, wave_id: int) -> HttpResponse:
    return _result_page(request, wave_id, "trends")


@login_required
@require_GET
def participation(request: HttpRequest, wave_id: int) -> HttpResponse:
    """While a wave is open: overall participation, rounded down to a multiple of 5, and nothing else."""
    wave = _wave(request, wave_id)
    if wave.status != Wave.Status.OPEN:
        return HttpResponseRedirect(reverse("dashboards:overview", args=[wave.pk]))
    context = _context(wave)
    try:
        body = pages.participation(context, request.GET)
    except pages.BadQuery as refusal:
        return HttpResponseBadRequest(str(refusal))
    return render(request, "dashboards/participation.html", {**_frame(request, context, "participation"), **body})


@login_required
@require_GET
def download(request: HttpRequest, wave_id: int, page: str, kind: str) -> HttpResponse:
    """Return one chart as CSV (its table's numbers) or SVG (the drawing on the page)."""
    if page not in CHART_PAGES or kind not in ("csv", "svg"):
        raise Http404
    wave = _wave(request, wave_id)
    context = _context(wave)
    owner = CHART_PAGES[page]
    try:
        if owner == "participation":
            if wave.status != Wave.Status.OPEN:
                raise Http404
            body = pages.participation(context, request.GET)
        else:
            if context.run is None:
                raise Http404
            if owner == "overview":
                if request.GET:
                    return HttpResponseBadRequest(_("This download takes no parameters."))
                body = pages.overview(context)
            else:
                body = RESULT_PAGES[owner](context, request.GET)
    except pages.BadQuery as refusal:
        return HttpResponseBadRequest(str(refusal))
    chart = next(chart for chart in body["charts"] if chart.slug == page)
    filename = f"{download_stem(wave)}-{page}.{kind}"
    if kind == "csv":
        buffer = io.StringIO()
        # Sector, group and area names and wave labels are typed by people: no cell may run as a formula.
        writer = SafeWriter(buffer, lineterminator="\n")
        writer.writerow(chart.csv_header)
        writer.writerows(chart.csv_rows)
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    else:
        svg = render_to_string(
            "dashboards/includes/_chart.svg", {"chart": chart, "standalone": True, "wave": wave}, request=request
        )
        response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
