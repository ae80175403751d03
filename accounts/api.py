"""The token sign-in API: one view per operation, thin, over the services."""

from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer, inline_serializer
from knox import views as knox_views
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.lockout import lockout_message

_error = inline_serializer(
    name="AuthError",
    fields={"code": serializers.CharField(), "detail": serializers.CharField()},
)


class TokenLoginApi(APIView):
    """Exchange a username and password for an API token, shown in this response only."""

    # The password in the body is the credential: no session, so no CSRF.
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    # Named components: the submission API's nested serializers are "Input" and "Output" too.
    @extend_schema_serializer(component_name="TokenLoginInput")
    class InputSerializer(serializers.Serializer[Any]):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, trim_whitespace=False)

    @extend_schema_serializer(component_name="TokenLoginOutput")
    class OutputSerializer(serializers.Serializer[Any]):
        token = serializers.CharField(help_text="Send as `Authorization: Token <token>`. It is never shown again.")
        expiry = serializers.DateTimeField(allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(_error, description="Malformed request, or the username or password is wrong."),
            409: OpenApiResponse(_error, description="The account holds as many tokens as allowed."),
            429: OpenApiResponse(_error, description="Too many failed sign-in attempts: locked for an hour."),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The Django request, so that django-axes counts and locks this sign-in like the others.
        django_request = request._request
        user = authenticate(
            request=django_request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if getattr(django_request, "axes_locked_out", False):
            return Response(
                {"code": "locked_out", "detail": lockout_message()}, status=status.HTTP_429_TOO_MANY_REQUESTS
            )
        if user is None:
            return Response(
                {"code": "invalid_credentials", "detail": _("The username or password is not correct.")},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            instance, token = services.api_token_create(user=user)
        except services.TokenLimitReached:
            return Response(
                {
                    "code": "token_limit",
                    "detail": _("You already have as many API tokens as allowed. Revoke one first."),
                },
                status=status.HTTP_409_CONFLICT,
            )
        # As a web sign-in does: resets the failure counters and records the last login.
        user_logged_in.send(sender=type(user), request=django_request, user=user)
        return Response(self.OutputSerializer({"token": token, "expiry": instance.expiry}).data)


_no_content = {204: OpenApiResponse(description="Done."), 401: OpenApiResponse(_error, description="No valid token.")}


@extend_schema(request=None, responses=_no_content)
class TokenLogoutApi(knox_views.LogoutView):  # type: ignore[misc]  # knox is untyped
    """Revoke the token this request is signed with."""


@extend_schema(request=None, responses=_no_content)
class TokenLogoutAllApi(knox_views.LogoutAllView):  # type: ignore[misc]
    """Revoke every token of the signed-in user."""
