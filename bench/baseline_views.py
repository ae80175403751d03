"""The two baselines the submission path is measured against, on the same server.

- `bare_submit`: plain Django, no parsing, no database: the floor of the stack
  (gunicorn, WSGI, the project's middleware).
- `BaselineSubmitApi`: a minimal DRF view that parses and validates the same
  JSON payload as `/api/v1/responses/` and stores it as one row, with no
  token, no instrument and no transaction of its own.
"""

import re
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.models import BaselineSubmission

# The real payload also answers option questions ("woman", ["asian", "white"]),
# so "an int 1..5 or na" alone would refuse it: option answers are checked
# only for their shape here, which is all a baseline without an instrument can do.
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
_SYMBOLS = frozenset({"na", "none"})


def _is_answer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 1 <= value <= 5
    if isinstance(value, str):
        return value in _SYMBOLS or _SLUG.match(value) is not None
    if isinstance(value, list):
        return bool(value) and all(isinstance(option, str) and _SLUG.match(option) for option in value)
    return False


@csrf_exempt
@require_POST
def bare_submit(request: HttpRequest) -> JsonResponse:
    """Answer a POST without reading it."""
    return JsonResponse({"status": "ok"})


class BaselineSubmitApi(APIView):
    """Validate the submission payload's shape and store it as one row."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        token = serializers.CharField(max_length=64)
        answers = serializers.DictField()

        def validate_answers(self, answers: dict[str, Any]) -> dict[str, Any]:
            wrong = [key for key, value in answers.items() if not _is_answer(value)]
            if wrong:
                raise serializers.ValidationError(f"not an answer: {', '.join(sorted(wrong)[:5])}")
            return answers

    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        BaselineSubmission.objects.create(answers=serializer.validated_data["answers"])
        return Response({"status": "received"}, status=status.HTTP_201_CREATED)
