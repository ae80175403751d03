"""The submission API: one view per operation, thin, over the services."""

from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from surveys import services
from surveys.answers import AnswersInvalid

REFUSAL_STATUS = {
    "invalid_token": status.HTTP_403_FORBIDDEN,
    "already_received": status.HTTP_409_CONFLICT,
    "wave_closed": status.HTTP_410_GONE,
}

_error = inline_serializer(
    name="Error",
    fields={
        "code": serializers.CharField(),
        "detail": serializers.CharField(),
        "errors": serializers.ListField(child=serializers.DictField(), required=False),
    },
)


class ResponseSubmitApi(APIView):
    """Submit one set of answers with an invitation token (offline and programmatic clients)."""

    # The token in the body is the credential; no session, no CSRF, no client data kept.
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer[Any]):
        token = serializers.CharField(max_length=64, help_text="The token from the invitation link.")
        answers = serializers.DictField(help_text="Answers keyed by item or dimension slug.")

    class OutputSerializer(serializers.Serializer[Any]):
        status = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            400: OpenApiResponse(_error, description="Malformed request or invalid answers."),
            403: OpenApiResponse(_error, description="Unknown or malformed token."),
            409: OpenApiResponse(_error, description="Answers for this invitation were already received."),
            410: OpenApiResponse(_error, description="The wave has closed."),
            413: OpenApiResponse(_error, description="The request body is too large."),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > settings.SUBMISSION_MAX_BYTES or len(request.body) > settings.SUBMISSION_MAX_BYTES:
            return Response(
                {
                    "code": "too_large",
                    "detail": _("The submission is larger than %(limit)d bytes.")
                    % {"limit": settings.SUBMISSION_MAX_BYTES},
                },
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            hashed = services.submission_token_hash(serializer.validated_data["token"])
            services.response_submit(token_hash=hashed, answers=serializer.validated_data["answers"])
        except services.SubmissionRefused as refusal:
            return Response({"code": refusal.code, "detail": str(refusal)}, status=REFUSAL_STATUS[refusal.code])
        except AnswersInvalid as invalid:
            return Response(
                {
                    "code": "invalid_answers",
                    "detail": _("Some answers are not valid; nothing was stored."),
                    "errors": [{"field": error.field, "message": error.message} for error in invalid.errors],
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        # A literal, not OutputSerializer(...).data: serializers deep-copy their fields on
        # every use, a measurable cost on the hottest endpoint (bench/README.md).
        return Response({"status": "received"}, status=status.HTTP_201_CREATED)
