"""The exports API: the data-use agreement, export requests, their progress, and the download.

A researcher sees and downloads only their own exports; anyone else's id
answers 404, whatever their role. Views validate, call one service or
selector, and serialise.
"""

from typing import Any

from django.http import FileResponse, Http404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exports import selectors, services
from exports.models import Export

_error = inline_serializer(
    name="ExportError", fields={"code": serializers.CharField(), "detail": serializers.CharField()}
)


class ExportOutputSerializer(serializers.Serializer[Export]):
    id = serializers.UUIDField()
    status = serializers.CharField()
    status_label = serializers.CharField(source="get_status_display")
    stage = serializers.CharField()
    stage_label = serializers.CharField(source="get_stage_display")
    progress = serializers.IntegerField()
    error = serializers.CharField()
    waves = serializers.SerializerMethodField()
    requested_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    file_size = serializers.IntegerField(allow_null=True)
    file_sha256 = serializers.CharField()
    downloads_left = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    def get_waves(self, export: Export) -> list[dict[str, Any]]:
        return [
            {"id": wave.pk, "coalition": wave.coalition.name, "label": wave.label}
            for wave in sorted(export.waves.all(), key=lambda wave: (wave.coalition.name, wave.opens_at, wave.pk))
        ]

    def get_downloads_left(self, export: Export) -> int:
        from django.conf import settings

        return (
            max(0, settings.EXPORT_MAX_DOWNLOADS - export.downloads) if export.status == Export.Status.SUCCEEDED else 0
        )

    def get_download_url(self, export: Export) -> str | None:
        if not export.is_downloadable():
            return None
        request = self.context.get("request")
        path = reverse("api-export-download", kwargs={"export_id": export.pk})
        return request.build_absolute_uri(path) if request is not None else path


class ExportListApi(APIView):
    class ExportRequestSerializer(serializers.Serializer[Any]):
        waves = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False)

    @extend_schema(responses={200: ExportOutputSerializer(many=True)}, summary="List your exports")
    def get(self, request: Request) -> Response:
        exports = selectors.exports_for_user(user=request.user)
        return Response(ExportOutputSerializer(exports, many=True, context={"request": request}).data)  # type: ignore[arg-type]

    @extend_schema(
        request=ExportRequestSerializer,
        responses={201: ExportOutputSerializer, 400: OpenApiResponse(_error)},
        summary="Request an export of closed waves",
    )
    def post(self, request: Request) -> Response:
        serializer = self.ExportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        unknown = set(request.data) - {"waves"} if isinstance(request.data, dict) else set()
        if unknown:
            raise ValidationError({"detail": _("Unknown fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}})
        try:
            export = services.export_request(
                user=selectors.authenticated(request.user), wave_ids=serializer.validated_data["waves"]
            )
        except services.ExportError as error:
            return Response({"code": "export_refused", "detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(
            ExportOutputSerializer(export, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class ExportDetailApi(APIView):
    @extend_schema(
        responses={200: ExportOutputSerializer, 404: OpenApiResponse(_error)}, summary="An export's progress"
    )
    def get(self, request: Request, export_id: str) -> Response:
        export = selectors.export_for_user(user=request.user, export_id=export_id)
        if export is None:
            raise Http404
        return Response(ExportOutputSerializer(export, context={"request": request}).data)


class ExportDownloadApi(APIView):
    # No HEAD: Django would answer it with the GET, and a link checker's HEAD would use up a download.
    http_method_names = ["get", "options"]

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(description="The export's zip file."),
            404: OpenApiResponse(_error),
            410: OpenApiResponse(_error),
        },
        summary="Download a ready export (only its researcher, until it expires)",
    )
    def get(self, request: Request, export_id: str) -> Any:
        if selectors.export_for_user(user=request.user, export_id=export_id) is None:
            raise Http404
        try:
            export, path = services.export_download(export_id=export_id, user=selectors.authenticated(request.user))
        except services.ExportError as error:
            return Response({"code": "gone", "detail": str(error)}, status=status.HTTP_410_GONE)
        return export_file_response(export, path)


class ExportRetryApi(APIView):
    @extend_schema(
        request=None,
        responses={200: ExportOutputSerializer, 400: OpenApiResponse(_error), 404: OpenApiResponse(_error)},
        summary="Try a failed export again",
    )
    def post(self, request: Request, export_id: str) -> Response:
        export = selectors.export_for_user(user=request.user, export_id=export_id)
        if export is None:
            raise Http404
        try:
            export = services.export_retry(export=export, user=selectors.authenticated(request.user))
        except services.ExportError as error:
            return Response({"code": "retry_refused", "detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(ExportOutputSerializer(export, context={"request": request}).data)


def export_file_response(export: Export, path: Any) -> FileResponse:
    """Return the zip as an attachment that no cache keeps."""
    name = f"coalition-pulse-export-{export.requested_at:%Y%m%d}-{str(export.pk)[:8]}.zip"
    response = FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type="application/zip")
    response["Cache-Control"] = "no-store"
    return response


class AgreementApi(APIView):
    class AgreementAcceptSerializer(serializers.Serializer[Any]):
        version = serializers.IntegerField(min_value=1)

    @extend_schema(
        responses={
            200: inline_serializer(
                name="DataUseAgreement",
                fields={
                    "version": serializers.IntegerField(),
                    "title": serializers.DictField(child=serializers.CharField()),
                    "text": serializers.DictField(child=serializers.CharField()),
                    "accepted": serializers.BooleanField(),
                },
            ),
            404: OpenApiResponse(_error),
        },
        summary="The current data-use agreement",
    )
    def get(self, request: Request) -> Response:
        agreement = selectors.agreement_current()
        if agreement is None:
            raise Http404
        return Response(
            {
                "version": agreement.version,
                "title": agreement.title,
                "text": agreement.text,
                "accepted": selectors.agreement_accepted(user=request.user, agreement=agreement),
            }
        )

    @extend_schema(
        request=AgreementAcceptSerializer,
        responses={200: OpenApiResponse(), 400: OpenApiResponse(_error)},
        summary="Accept the current agreement",
    )
    def post(self, request: Request) -> Response:
        serializer = self.AgreementAcceptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            acceptance = services.agreement_accept(
                user=selectors.authenticated(request.user), version=serializer.validated_data["version"]
            )
        except services.ExportError as error:
            return Response({"code": "agreement_refused", "detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"version": acceptance.agreement.version, "accepted_at": acceptance.accepted_at})
