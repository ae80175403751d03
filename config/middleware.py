"""Response headers that keep survey pages private (PRIVACY.md rule 16)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

# Self-only: no third-party script, style, font, image or frame may load.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)


SURVEY_PREFIX = "/q/"


class SecurityHeadersMiddleware:
    """Add a self-only CSP everywhere and `no-store` on every non-static page.

    No page of the product is worth caching on a shared or controlled device:
    survey pages must not survive in the browser cache, and dashboards hold
    coalition data.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if request.path.startswith(SURVEY_PREFIX):
            response.headers["Referrer-Policy"] = "no-referrer"
        else:
            # Staff pages keep the origin on same-site requests: Django's CSRF
            # check needs it, and nothing is sent to other sites.
            response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response
