"""Staff account pages: password reset and change (Django's views, neutral and throttled), API tokens."""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.forms import ThrottledPasswordResetForm


class PasswordResetView(auth_views.PasswordResetView):
    """Send a reset link if the address has an account; the same page either way."""

    form_class = ThrottledPasswordResetForm
    subject_template_name = "registration/password_reset_subject.txt"

    def form_valid(self, form: Any) -> HttpResponse:
        # Links use the configured public address, never the request's Host header.
        self.extra_email_context = {"site_url": settings.SITE_URL.rstrip("/")}
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Set a new password from a reset link, and lift any sign-in lockout of that account."""

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        # Whoever holds the link controls the account's email: the lockout protects nothing more.
        services.login_lockout_clear(username=form.user.get_username())
        # Tokens made with the old password (perhaps by whoever stole it) stop working.
        services.api_tokens_revoke_all(user=form.user)
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    """Change the password; every API token made before stops working."""

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        services.api_tokens_revoke_all(user=form.user)
        return response


def _tokens_page(request: HttpRequest, *, new_token: str = "", error: str = "", status: int = 200) -> HttpResponse:
    tokens = selectors.api_tokens_for_user(user=request.user)  # type: ignore[arg-type]
    rows = [
        {"digest": token.digest, "prefix": token.token_key[:8], "created": token.created, "expiry": token.expiry}
        for token in tokens
    ]
    return render(
        request,
        "accounts/tokens.html",
        {"rows": rows, "new_token": new_token, "error": error},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """List the user's API tokens; on POST create one and show it on this response only."""
    if request.method == "GET":
        return _tokens_page(request)
    try:
        _instance, token = services.api_token_create(user=request.user)  # type: ignore[arg-type]
    except services.TokenLimitReached:
        return _tokens_page(
            request, error=_("You already have as many API tokens as allowed. Revoke one first."), status=409
        )
    return _tokens_page(request, new_token=token)


@login_required
@require_POST
def api_token_revoke(request: HttpRequest) -> HttpResponse:
    """Revoke one of the user's API tokens."""
    digest = request.POST.get("digest", "")
    if services.api_token_revoke(user=request.user, digest=digest):  # type: ignore[arg-type]
        messages.success(request, _("The token was revoked. Programs using it can no longer sign in."))
    else:
        messages.error(request, _("No such token: it may have expired or been revoked already."))
    return HttpResponseRedirect(reverse("api-tokens"))
