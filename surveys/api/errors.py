"""One error shape for the whole API: {"code": ..., "detail": ..., "errors": [...]}."""

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    code = getattr(exc, "default_code", "error")
    if isinstance(data, dict) and set(data) == {"detail"}:
        response.data = {"code": code, "detail": str(data["detail"])}
    else:
        response.data = {"code": code, "detail": "The request is not valid.", "errors": data}
    return response
