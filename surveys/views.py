"""HTML views: the respondent's survey flow, and the staff pages of the collection side.

Survey routes (`/q/...`) follow PRIVACY.md rule 16: the token in an
invitation link is checked once and swapped for a session, the browser is
redirected to a token-free address, pages are neutral, and every response
carries `no-store`, `no-referrer` and a self-only CSP (config.middleware).
The answers travel between steps in a hidden field, signed for the session;
the session holds only the token's hash, a random form token and the chosen
language, and is destroyed on submission. A post is accepted only from the
survey's own origin, with the session's form token and a state signed for
the session (`_is_same_origin_post`, `_posted_answers`).
"""

import hmac
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from surveys import attestation, selectors, services
from surveys.answers import AnswersInvalid, answers_clean
from surveys.forms import RosterImportForm
from surveys.models import Wave
from surveys.survey_pages import (
    StateRefused,
    answer_summary,
    answers_from_post,
    invited_people_rounded,
    question_views,
    state_dump,
    state_load,
    steps_for,
)
from surveys.tokens import token_hash, token_is_well_formed

SESSION_TOKEN_HASH = "survey_invitation"  # noqa: S105 - a session key name, not a secret
SESSION_LANGUAGE = "survey_language"
SESSION_FORM_TOKEN = "survey_form_token"  # noqa: S105 - a session key name, not a secret


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
    # A synchronizer token in every survey form: a page on another origin
    # cannot read it, so it cannot post a form the survey would accept.
    request.session[SESSION_FORM_TOKEN] = secrets.token_urlsafe(32)
    request.session[SESSION_LANGUAGE] = invitation.member.language or invitation.wave.coalition.default_language
    request.session.set_expiry(0)  # ends when the browser closes
    return redirect("survey")


def _survey_language(request: HttpRequest) -> str:
    language = request.session.get(SESSION_LANGUAGE, settings.LANGUAGE_CODE)
    valid = {code for code, _name in settings.LANGUAGES}
    return language if language in valid else settings.LANGUAGE_CODE


def _is_same_origin_post(request: HttpRequest) -> bool:
    """Return whether a survey post comes from a page of the survey's own origin.

    Survey pages send `Referrer-Policy: no-referrer`, under which browsers
    send `Origin: null` on the survey's own form posts (Fetch standard), so
    Django's CSRF check, which needs a real Origin, cannot be used. Fetch
    Metadata tells the cases apart instead: `Sec-Fetch-Site` is set by the
    browser and cannot be forged by a page. `SameSite=Lax` alone is not
    enough: a page on another subdomain is same-site, so the session cookie
    comes along with its post.
    """
    origin = request.headers.get("Origin")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site != "same-origin":
        return False  # same-site (another subdomain), cross-site, or none (typed or bookmarked)
    if origin is not None and origin != "null":
        return origin.lower() == f"{request.scheme}://{request.get_host()}".lower()
    # `Origin: null` or none. With `Sec-Fetch-Site: same-origin` this is the
    # survey's own form. With neither header it is a browser too old for Fetch
    # Metadata: accepted, and then protected only by the form token and the
    # signed state, which a page on another origin cannot read.
    return True


def _posted_answers(request: HttpRequest, *, invitation_token_hash: str) -> dict[str, Any] | None:
    """Return the answers so far from a post that carries this session's form token and state, else None."""
    expected = str(request.session.get(SESSION_FORM_TOKEN, ""))
    posted = request.POST.get("form_token", "")
    if not expected or not hmac.compare_digest(posted.encode(), expected.encode()):
        return None
    try:
        return state_load(
            request.POST.get("state", ""), invitation_token_hash=invitation_token_hash, form_token=expected
        )
    except StateRefused:
        return None


@csrf_exempt  # Origin is null on the survey's own posts; see _is_same_origin_post
@require_http_methods(["GET", "POST"])
def survey(request: HttpRequest) -> HttpResponse:
    """Show the survey one step at a time: introduction, sections, about you, review."""
    # A refused post leaves the member's session alone: otherwise a forging
    # page could end the survey of whoever it catches mid-way.
    if request.method == "POST" and not _is_same_origin_post(request):
        return _link_inactive(request)
    hashed = str(request.session.get(SESSION_TOKEN_HASH, ""))
    invitation = selectors.invitation_for_submission(token_hash=hashed) if hashed else None
    if invitation is None or invitation.is_used or invitation.wave.status != Wave.Status.OPEN:
        request.session.flush()
        return _link_inactive(request)
    answers: dict[str, Any] = {}
    if request.method == "POST":
        posted = _posted_answers(request, invitation_token_hash=hashed)
        if posted is None:
            return _link_inactive(request)
        answers = posted

    wave = invitation.wave
    if request.method == "POST" and request.POST.get("action", "").startswith("language-"):
        chosen = request.POST["action"].removeprefix("language-")
        if chosen in {code for code, _name in settings.LANGUAGES}:
            request.session[SESSION_LANGUAGE] = chosen
    language = _survey_language(request)
    with translation.override(language):
        return _survey_step(request, invitation_token_hash=hashed, wave=wave, language=language, answers=answers)


def _survey_step(
    request: HttpRequest, *, invitation_token_hash: str, wave: Wave, language: str, answers: dict[str, Any]
) -> HttpResponse:
    spec = selectors.instrument_spec(instrument_id=wave.instrument.pk, checksum=wave.instrument.checksum)
    sectors = selectors.wave_sectors(wave=wave)
    include_free_text = wave.coalition.is_free_text_enabled
    steps = steps_for(spec, language, include_free_text=include_free_text)
    review_number = len(steps) + 1
    number = 0
    errors: list[str] = []

    if request.method == "POST":
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

    form_token = str(request.session.get(SESSION_FORM_TOKEN, ""))
    context: dict[str, Any] = {
        "wave": wave,
        "language": language,
        "languages": settings.LANGUAGES,
        "form_token": form_token,
        "state": state_dump(answers, invitation_token_hash=invitation_token_hash, form_token=form_token),
        "step_number": number,
        "step_count": review_number,
        "errors": errors,
    }
    if number == 0:
        # So a member can judge how many people they are anonymous among.
        invited = selectors.wave_invited_reach(wave=wave)
        context["invited_people"] = invited_people_rounded(invited["people"])
        context["invited_sectors"] = invited["sectors"]
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
    coalitions = selectors.coalitions_for_oversight(user=request.user)
    user = request.user
    awaited = attestation.confirmations_awaited(user=user) if isinstance(user, User) else []
    decisions = selectors.access_requests_awaiting(user=user) if isinstance(user, User) else []
    return render(
        request,
        "surveys/home.html",
        {
            "rows": rows,
            "overseen": coalitions,
            "awaited": awaited,
            "decisions": decisions,
        },
    )


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
                by=request.user if isinstance(request.user, User) else None,
            )
        except services.ServiceError as refusal:
            error = str(refusal)
    return render(
        request,
        "surveys/roster_import.html",
        {"coalition": coalition, "form": form, "report": report, "error": error},
    )
