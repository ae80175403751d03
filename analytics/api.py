"""The results API: a wave's stored, suppressed breakdowns, pair matrix and trends (read-only).

Views are thin: the query string is checked against a fixed list (PRIVACY.md
rule 5: unknown, repeated or extra parameters get a 400, never data), access
comes from the user's grants, and the figures come from analytics.selectors.
"""

from typing import Any

from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import selectors
from analytics.engine.publication import FIGURE_COLUMNS
from analytics.models import AnalyticsRun
from surveys.models import Wave

PAGE_SIZE = 5000

_DIMENSION = OpenApiParameter(
    "dimension",
    OpenApiTypes.STR,
    description='One fixed table: "overall", "sector", a social-location dimension slug (e.g. "gender"), '
    'or "sector,<dimension>" for a sector cross (e.g. "sector,gender").',
)
_MEASURE = OpenApiParameter("measure", OpenApiTypes.STR, enum=list(selectors.MEASURES), description="Kind of measure.")
_AREA = OpenApiParameter(
    "area", OpenApiTypes.STR, description='"overall" (health index), an area slug or an item slug.'
)
_PAGE = OpenApiParameter("page", OpenApiTypes.INT, description=f"Page of {PAGE_SIZE} cells, from 1.")

_nullable_float = serializers.FloatField(allow_null=True)
_cell = inline_serializer(
    name="BreakdownCell",
    fields={
        "dimensions": serializers.ListField(child=serializers.CharField()),
        "groups": serializers.ListField(child=serializers.CharField()),
        "measure": serializers.ChoiceField(choices=list(selectors.MEASURES)),
        "area": serializers.CharField(),
        "n": serializers.IntegerField(allow_null=True),
        "n_label": serializers.CharField(allow_null=True),
        **{name: serializers.FloatField(allow_null=True) for name in FIGURE_COLUMNS if name != "n"},
        "flag": serializers.BooleanField(allow_null=True),
        "suppressed": serializers.BooleanField(),
    },
)
_run = inline_serializer(
    name="ResultsStatus",
    fields={
        "status": serializers.ChoiceField(choices=AnalyticsRun.Status.choices),
        "stage": serializers.CharField(),
        "progress": serializers.IntegerField(),
        "engine_version": serializers.CharField(),
        "computed_at": serializers.DateTimeField(allow_null=True),
        "error": serializers.CharField(allow_blank=True),
    },
)
_wave = inline_serializer(
    name="WaveSummary",
    fields={
        "id": serializers.IntegerField(),
        "coalition": serializers.CharField(),
        "label": serializers.CharField(),
        "status": serializers.CharField(),
    },
)
_error = inline_serializer(
    name="ResultsError", fields={"code": serializers.CharField(), "detail": serializers.CharField()}
)


def _query(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """Return the query parameters, refusing unknown, repeated or empty ones (rule 5)."""
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        raise ValidationError(
            {
                "detail": _("Unknown parameter: %(names)s. Allowed: %(allowed)s.")
                % {"names": ", ".join(unknown), "allowed": ", ".join(allowed) or _("none")}
            }
        )
    values: dict[str, str] = {}
    for name in request.query_params:
        given = request.query_params.getlist(name)
        if len(given) != 1 or not given[0]:
            raise ValidationError({"detail": _("Give %(name)s exactly once, with a value.") % {"name": name}})
        values[name] = given[0]
    return values


def _wave_for(request: Request, wave_id: int) -> Wave:
    if not selectors.user_has_results_access(user=request.user):
        raise PermissionDenied(_("Your account has no access to results."))
    wave = selectors.waves_with_results_access(user=request.user).filter(pk=wave_id).first()
    if wave is None:
        raise Http404
    return wave


def _wave_summary(wave: Wave) -> dict[str, Any]:
    return {"id": wave.pk, "coalition": wave.coalition.slug, "label": wave.label, "status": wave.status}


def _run_summary(run: AnalyticsRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "status": run.status,
        "stage": run.get_stage_display(),
        "progress": run.progress,
        "engine_version": run.engine_version,
        "computed_at": run.finished_at if run.status == AnalyticsRun.Status.SUCCEEDED else None,
        "error": run.error,
    }


def _no_results_detail(wave: Wave, latest: AnalyticsRun | None) -> str:
    if wave.status != Wave.Status.CLOSED:
        return _("Group results appear after the wave closes.")
    if latest is None or latest.status in (AnalyticsRun.Status.PENDING, AnalyticsRun.Status.RUNNING):
        return _("The results are being computed.")
    return _("The results could not be computed: %(reason)s") % {"reason": latest.error}


def _table_filter(query: dict[str, str], run: AnalyticsRun | None) -> selectors.TableFilter:
    dimensions: tuple[str, ...] | None = None
    if "dimension" in query:
        dimensions = () if query["dimension"] == "overall" else tuple(query["dimension"].split(","))
    measure = query.get("measure")
    if measure is not None and measure not in selectors.MEASURES:
        raise ValidationError(
            {
                "detail": _("Unknown measure %(value)s. Use one of: %(allowed)s.")
                % {"value": measure, "allowed": ", ".join(selectors.MEASURES)}
            }
        )
    area = query.get("area")
    if run is not None and (dimensions is not None or area is not None):
        tables, areas = selectors.table_options(run=run)
        if dimensions is not None and dimensions not in tables:
            raise ValidationError({"detail": _("There is no table %(value)s.") % {"value": query["dimension"]}})
        if area is not None and area not in areas:
            raise ValidationError({"detail": _("There is no area or item %(value)s.") % {"value": area}})
    return selectors.TableFilter(dimensions=dimensions, measure=measure, area=area)


def _page(query: dict[str, str]) -> int:
    try:
        page = int(query.get("page", "1"))
    except ValueError:
        page = 0
    if page < 1:
        raise ValidationError({"detail": _("page must be a whole number from 1.")})
    return page


class WaveBreakdownsApi(APIView):
    """A closed wave's breakdown cells, after disclosure control. An open wave returns no group results."""

    @extend_schema(
        parameters=[_DIMENSION, _MEASURE, _AREA, _PAGE],
        responses={
            200: inline_serializer(
                name="Breakdowns",
                fields={
                    "wave": _wave,
                    "results": _run,
                    "detail": serializers.CharField(required=False),
                    "count": serializers.IntegerField(),
                    "page": serializers.IntegerField(),
                    "pages": serializers.IntegerField(),
                    "cells": _cell,
                },
            ),
            400: OpenApiResponse(_error, description="Unknown, repeated or invalid query parameter."),
            403: OpenApiResponse(_error, description="No access to results."),
            404: OpenApiResponse(_error, description="No such wave among your coalitions."),
        },
    )
    def get(self, request: Request, wave_id: int) -> Response:
        query = _query(request, ("dimension", "measure", "area", "page"))
        wave = _wave_for(request, wave_id)
        run = selectors.run_published(wave=wave)
        table_filter = _table_filter(query, run)
        page = _page(query)
        latest = selectors.run_latest(wave=wave)
        body: dict[str, Any] = {"wave": _wave_summary(wave), "results": _run_summary(latest)}
        cells = selectors.breakdown_cells(run=run, table_filter=table_filter) if run is not None else []
        if run is None:
            body["detail"] = _no_results_detail(wave, latest)
        pages = max(1, -(-len(cells) // PAGE_SIZE))
        if page > pages:
            raise ValidationError({"detail": _("There are only %(pages)s pages.") % {"pages": pages}})
        body.update(count=len(cells), page=page, pages=pages, cells=cells[(page - 1) * PAGE_SIZE : page * PAGE_SIZE])
        return Response(body)


class WavePairMatrixApi(APIView):
    """A closed wave's sector-pair strain matrix (rater sector × rated sector), after disclosure control."""

    @extend_schema(
        responses={
            200: inline_serializer(
                name="PairMatrix",
                fields={
                    "wave": _wave,
                    "results": _run,
                    "detail": serializers.CharField(required=False),
                    "cells": inline_serializer(
                        name="PairCell",
                        fields={
                            "rater_sector": serializers.CharField(),
                            "rated_sector": serializers.CharField(),
                            "n": serializers.IntegerField(allow_null=True),
                            "mean": serializers.FloatField(allow_null=True),
                            "asymmetry": serializers.FloatField(allow_null=True),
                            "flag": serializers.BooleanField(allow_null=True),
                            "suppressed": serializers.BooleanField(),
                        },
                    ),
                },
            ),
            400: OpenApiResponse(_error, description="Any query parameter."),
            403: OpenApiResponse(_error, description="No access to results."),
            404: OpenApiResponse(_error, description="No such wave among your coalitions."),
        },
    )
    def get(self, request: Request, wave_id: int) -> Response:
        _query(request, ())
        wave = _wave_for(request, wave_id)
        run = selectors.run_published(wave=wave)
        latest = selectors.run_latest(wave=wave)
        body: dict[str, Any] = {"wave": _wave_summary(wave), "results": _run_summary(latest)}
        if run is None:
            body["detail"] = _no_results_detail(wave, latest)
        body["cells"] = selectors.pair_cells(run=run) if run is not None else []
        return Response(body)


class WaveTrendsApi(APIView):
    """Each cell's mean across the coalition's closed waves up to this one; a change only where both show."""

    @extend_schema(
        parameters=[_DIMENSION, _MEASURE, _AREA],
        responses={
            200: inline_serializer(
                name="Trends",
                fields={
                    "wave": _wave,
                    "waves": inline_serializer(
                        name="TrendWave", fields={"id": serializers.IntegerField(), "label": serializers.CharField()}
                    ),
                    "detail": serializers.CharField(required=False),
                    "series": inline_serializer(
                        name="TrendSeries",
                        fields={
                            "dimensions": serializers.ListField(child=serializers.CharField()),
                            "groups": serializers.ListField(child=serializers.CharField()),
                            "measure": serializers.CharField(),
                            "area": serializers.CharField(),
                            "points": serializers.ListField(child=serializers.DictField()),
                        },
                    ),
                },
            ),
            400: OpenApiResponse(_error, description="Unknown, repeated or invalid query parameter."),
            403: OpenApiResponse(_error, description="No access to results."),
            404: OpenApiResponse(_error, description="No such wave among your coalitions."),
        },
    )
    def get(self, request: Request, wave_id: int) -> Response:
        query = _query(request, ("dimension", "measure", "area"))
        wave = _wave_for(request, wave_id)
        run = selectors.run_published(wave=wave)
        table_filter = _table_filter(query, run)
        body: dict[str, Any] = {"wave": _wave_summary(wave)}
        if run is None:
            body.update(waves=[], series=[], detail=_no_results_detail(wave, selectors.run_latest(wave=wave)))
            return Response(body)
        waves, series = selectors.trend_series(wave=wave, table_filter=table_filter)
        body.update(waves=[{"id": each.pk, "label": each.label} for each in waves], series=series)
        return Response(body)
