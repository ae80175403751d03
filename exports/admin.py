"""Admin pages of researcher access: grants (admins and the coalition's stewards), agreements and exports (admins).

Grants are requested, approved, refused and revoked through the services,
so that each change is in the coalition's audit log and a second person
always approves; they are never edited or deleted.
"""

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from exports import selectors, services
from exports.models import AgreementAcceptance, DataUseAgreement, Export, ResearchGrant
from surveys import selectors as survey_selectors
from surveys.admin import StewardScopedAdmin
from surveys.errors import ServiceError
from surveys.models import Member


@admin.register(ResearchGrant)
class ResearchGrantAdmin(StewardScopedAdmin):
    """Requests and grants. Adding one is a request; a second person approves or refuses it (PRIVACY.md rule 9a)."""

    list_display = ["researcher", "coalition", "status", "requested_by", "decided_by", "granted_at", "revoked_at"]
    list_filter = ["coalition", "status"]
    actions = ["approve", "refuse", "revoke"]
    fields = ["researcher", "coalition", "reason"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        # Leaders see their coalitions' requests too: they are the second person who decides.
        return ResearchGrant.objects.filter(
            coalition__in=survey_selectors.coalitions_for_oversight(user=request.user)
        ).select_related("researcher", "coalition")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["researcher", "coalition", "reason"] if obj is not None else []

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The list (and its actions) needs the permission; a grant itself is never edited.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "researcher" and not request.user.is_superuser:
            # A steward asks for the researchers on their own coalitions' rosters only.
            coalitions = survey_selectors.coalitions_for_steward(user=request.user)
            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(
                    memberships__coalition__in=coalitions,
                    memberships__role=Member.Role.RESEARCHER,
                    memberships__is_active=True,
                )
                .distinct()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_check(self, request: HttpRequest, obj: Any, changed: list[str], change: bool) -> None:
        if change or not (obj.researcher_id and obj.coalition_id):
            return
        # The request itself runs the same checks in save_model; asking here shows a refusal on the form.
        with transaction.atomic():
            services.grant_request(
                researcher=obj.researcher, coalition=obj.coalition, by=selectors.authenticated(request.user)
            )
            transaction.set_rollback(True)

    def save_model(self, request: HttpRequest, obj: ResearchGrant, form: Any, change: bool) -> None:
        grant = services.grant_request(
            researcher=obj.researcher,
            coalition=obj.coalition,
            by=selectors.authenticated(request.user),
            reason=obj.reason,
        )
        obj.pk = grant.pk

    def _decide(self, request: HttpRequest, queryset: QuerySet[ResearchGrant], decide: Any, done: Any) -> None:
        count = 0
        for grant in queryset:
            try:
                decide(grant=grant, by=selectors.authenticated(request.user))
            except ServiceError as error:
                self.message_user(request, f"{grant}: {error}", messages.ERROR)
                continue
            count += 1
        if count:
            self.message_user(request, done % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Approve the selected requests"), permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[ResearchGrant]) -> None:
        self._decide(request, queryset, services.grant_approve, _("%(count)s requests approved."))

    @admin.action(description=_("Refuse the selected requests"), permissions=["change"])
    def refuse(self, request: HttpRequest, queryset: QuerySet[ResearchGrant]) -> None:
        self._decide(request, queryset, services.grant_refuse, _("%(count)s requests refused."))

    @admin.action(description=_("Revoke the selected grants"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ResearchGrant]) -> None:
        self._decide(
            request,
            queryset.filter(status__in=[ResearchGrant.Status.REQUESTED, ResearchGrant.Status.ACTIVE]),
            services.grant_revoke,
            _("%(count)s grants revoked."),
        )


class SuperuserOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DataUseAgreement)
class DataUseAgreementAdmin(SuperuserOnlyAdmin):
    """A new text is a new version (researchers accept it again); an existing version is never changed."""

    list_display = ["version", "__str__", "published_at"]
    fields = ["title", "text"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["version", "title", "text", "published_at"] if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["version", "title", "text", "published_at"] if obj is not None else ["title", "text"]

    def save_model(self, request: HttpRequest, obj: DataUseAgreement, form: Any, change: bool) -> None:
        agreement = services.agreement_publish(title=obj.title, text=obj.text)
        obj.pk, obj.version = agreement.pk, agreement.version


@admin.register(AgreementAcceptance)
class AgreementAcceptanceAdmin(SuperuserOnlyAdmin):
    list_display = ["user", "agreement", "accepted_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Export)
class ExportAdmin(SuperuserOnlyAdmin):
    """Exports as metadata (who, which waves, status); the files are served only to their researcher."""

    list_display = ["requested_at", "researcher", "status", "stage", "progress", "downloads", "expires_at"]
    list_filter = ["status"]
    exclude = ["file_name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
