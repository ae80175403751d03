"""HTML views: the respondent's survey flow, and the staff pages of the collection side.

Survey routes (`/q/...`) follow PRIVACY.md rule 16: the token in an
invitation link is checked once and swapped for a session, the browser is
redirected to a token-free address, pages are neutral, and every response
carries `no-store`, `no-referrer` and a self-only CSP (config.middleware).
The answers travel between steps in a hidden field; the session holds only
the token's hash and the chosen language, and is destroyed on submission.
"""

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from surveys import selectors, services
from surveys.answers import AnswersInvalid, answers_clean
from surveys.forms import RosterImportForm
from surveys.models import Wave
from surveys.survey_pages import (
    answer_summary,
    answers_from_post,
    question_views,
    state_dump,
    state_load,
    steps_for,
)
from surveys.tokens import token_hash, token_is_well_formed

SESSION_TOKEN_HASH = "survey_invitation"  # noqa: S105 - a session key name, not a secret
SESSION_LANGUAGE = "survey_language"


def _survey_render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    context = {"exit_url": reverse("survey-exit"), **context}
    return render(request, template, context, status=status)


def _link_inactive(request: HttpRequest) -> HttpResponse:
    # One generic page for unknown, used and expired links: a person holding
    # someone else's phone learns nothing from it (PRIVACY.md rule 14).
    return _survey_render(request, "surveys/survey_message.html", {"kind": "inactive"}, status=200)


@require_http_methods(["GET"])
def survey_enter(request: HttpRequest, token: str) -> HttpResponse:
    """Check an invitation link once, swap the token for a session, redirect to /q/."""
    if not token_is_well_formed(token):
        return _link_inactive(request)
    hashed = token_hash(token)
    invitation = selectors.invitation_for_submission(token_hash=hashed)
    if invitation is None or invitation.is_used or invitation.wave.status != Wave.Status.OPEN:
        return _link_inactive(request)
    request.session.flush()
    request.session[SESSION_TOKEN_HASH] = hashed
    request.session[SESSION_LANGUAGE] = invitation.member.language or invitation.wave.coalition.default_language
    request.session.set_expiry(0)  # ends when the browser closes
    return redirect("survey")


def _survey_language(request: HttpRequest) -> str:
    language = request.session.get(SESSION_LANGUAGE, settings.LANGUAGE_CODE)
    valid = {code for code, _name in settings.LANGUAGES}
    return language if language in valid else settings.LANGUAGE_CODE


def _is_cross_site(request: HttpRequest) -> bool:
    # With `Referrer-Policy: no-referrer` browsers send `Origin: null` on the
    # survey's own form posts, which Django's CSRF check refuses. The survey
    # is protected instead by its session cookie (SameSite=Lax: never sent on
    # a cross-site POST, so a forged post finds no survey) and by refusing a
    # post that names another origin.
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return False
    return origin != f"{request.scheme}://{request.get_host()}"


@csrf_exempt
@require_http_methods(["GET", "POST"])
def survey(request: HttpRequest) -> HttpResponse:
    """Show the survey one step at a time: introduction, sections, about you, review."""
    if request.method == "POST" and _is_cross_site(request):
        return _link_inactive(request)
    hashed = str(request.session.get(SESSION_TOKEN_HASH, ""))
    invitation = selectors.invitation_for_submission(token_hash=hashed) if hashed else None
    if invitation is None or invitation.is_used or invitation.wave.status != Wave.Status.OPEN:
        request.session.flush()
        return _link_inactive(request)

    wave = invitation.wave
    if request.method == "POST" and request.POST.get("action", "").startswith("language-"):
        chosen = request.POST["action"].removeprefix("language-")
        if chosen in {code for code, _name in settings.LANGUAGES}:
            request.session[SESSION_LANGUAGE] = chosen
    language = _survey_language(request)
    with translation.override(language):
        return _survey_step(request, invitation_token_hash=hashed, wave=wave, language=language)


def _survey_step(request: HttpRequest, *, invitation_token_hash: str, wave: Wave, language: str) -> HttpResponse:
    spec = selectors.instrument_spec(instrument_id=wave.instrument.pk, checksum=wave.instrument.checksum)
    sectors = selectors.wave_sectors(wave=wave)
    include_free_text = wave.coalition.is_free_text_enabled
    steps = steps_for(spec, language, include_free_text=include_free_text)
    review_number = len(steps) + 1
    answers: dict[str, Any] = {}
    number = 0
    errors: list[str] = []

    if request.method == "POST":
        answers = state_load(request.POST.get("state", ""))
        try:
            current = int(request.POST.get("step", "0"))
        except ValueError:
            current = 0
        current = min(max(current, 0), review_number)
        if 1 <= current <= len(steps):
            answers = answers_from_post(spec, steps[current - 1], request.POST, answers, sectors)
        action = request.POST.get("action", "")
        number = _next_step(action, current, review_number)
        try:
            answers = answers_clean(
                spec=spec,
                sector_slugs=[sector["slug"] for sector in sectors],
                answers=answers,
                is_free_text_enabled=include_free_text,
            )
        except AnswersInvalid as error:
            errors = [f"{problem.field}: {problem.message}" for problem in error.errors]
            number = current
            answers = {}
        if action == "submit" and not errors:
            return _survey_submit(request, invitation_token_hash, answers)

    context: dict[str, Any] = {
        "wave": wave,
        "language": language,
        "languages": settings.LANGUAGES,
        "state": state_dump(answers),
        "step_number": number,
        "step_count": review_number,
        "errors": errors,
    }
    if number == 0:
        return _survey_render(request, "surveys/survey_intro.html", context)
    if number == review_number:
        context["summary"] = answer_summary(spec, steps, language=language, answers=answers, sectors=sectors)
        return _survey_render(request, "surveys/survey_review.html", context)
    step = steps[number - 1]
    context["step"] = step
    context["questions"] = question_views(spec, step, language=language, answers=answers, sectors=sectors)
    return _survey_render(request, "surveys/survey_step.html", context)


def _next_step(action: str, current: int, review_number: int) -> int:
    if action == "next":
        return min(current + 1, review_number)
    if action == "back":
        return max(current - 1, 0)
    if action == "review" or action == "submit":
        return review_number
    if action.startswith("goto-"):
        try:
            return min(max(int(action.removeprefix("goto-")), 0), review_number)
        except ValueError:
            return current
    return current


def _survey_submit(request: HttpRequest, hashed: str, answers: dict[str, Any]) -> HttpResponse:
    try:
        services.response_submit(token_hash=hashed, answers=answers)
    except services.SubmissionRefused as refusal:
        request.session.flush()
        kind = "received" if refusal.code == "already_received" else "inactive"
        return _survey_render(request, "surveys/survey_message.html", {"kind": kind})
    # Nothing about this person or their answers survives in the session.
    request.session.flush()
    return redirect("survey-done")


@require_http_methods(["GET"])
def survey_exit(request: HttpRequest) -> HttpResponse:
    """End the survey session and send the browser to a neutral site.

    Going Back afterwards finds no survey: the session that held it is gone.
    """
    request.session.flush()
    return HttpResponseRedirect(settings.SURVEY_EXIT_URL)


@require_http_methods(["GET"])
def survey_done(request: HttpRequest) -> HttpResponse:
    return _survey_render(request, "surveys/survey_message.html", {"kind": "thanks"})


# --- Staff pages --------------------------------------------------------------


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """List the waves the user can see, with participation as PRIVACY.md rule 6 allows."""
    waves = list(selectors.waves_for_user(user=request.user).order_by("coalition__name", "-opens_at"))
    rows = [{"wave": wave, "participation": selectors.wave_participation(wave=wave)} for wave in waves]
    coalitions = selectors.coalitions_for_steward(user=request.user)
    return render(request, "surveys/home.html", {"rows": rows, "stewarded": coalitions})


@login_required
@require_http_methods(["GET", "POST"])
def roster_import(request: HttpRequest, slug: str) -> HttpResponse:
    """Let a steward import the roster from a CSV file, with a report of every bad row."""
    coalition = get_object_or_404(selectors.coalitions_for_steward(user=request.user), slug=slug)
    report = None
    error = ""
    form = RosterImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            report = services.roster_import(
                coalition=coalition,
                content=form.cleaned_data["content"],
                actor=request.user.get_username(),
            )
        except services.ServiceError as refusal:
            error = str(refusal)
    return render(
        request,
        "surveys/roster_import.html",
        {"coalition": coalition, "form": form, "report": report, "error": error},
    )
