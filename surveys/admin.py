"""Django admin for platform admins and data stewards.

Stewards see only the coalitions they steward. Every write goes through the
services, which enforce separation of duties (PRIVACY.md rule 9a) and audit
it; superusers' actions are audited too. Invitations, the pending pool
and responses are not registered: no admin page can show who answered or
join a member to an answer (PRIVACY.md rule 12).
"""

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from surveys import selectors, services
from surveys.models import (
    AuditEvent,
    Coalition,
    Instrument,
    Member,
    RoleCombination,
    RosterAttestation,
    RosterChange,
    Sector,
    Wave,
)


def _is_frozen(coalition: Coalition | None) -> bool:
    return coalition is not None and selectors.coalition_has_open_wave(coalition=coalition)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - the admin requires a staff login
    return user


class StewardScopedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Limit rows, choices and filters to the coalitions the user stewards (all, for superusers).

    Writes go through the services, which enforce the same rules as the pages (PRIVACY.md rule
    9a): the form asks `service_check` first, so a refusal is shown on the form and nothing is
    saved; `save_model` then calls the service, which checks again under its lock.
    """

    coalition_path = "coalition"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        allowed = selectors.coalitions_for_steward(user=request.user)
        return queryset.filter(**{f"{self.coalition_path}__in": allowed})

    def get_list_filter(self, request: HttpRequest) -> Any:
        # Only the coalitions (and sectors) of the rows the user may see: a plain related filter
        # would list every coalition's name.
        return [
            (name, admin.RelatedOnlyFieldListFilter) if name in ("coalition", "sector") else name
            for name in super().get_list_filter(request)
        ]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "coalition" and not request.user.is_superuser:
            kwargs["queryset"] = selectors.coalitions_for_steward(user=request.user)
        if db_field.name == "sector" and not request.user.is_superuser:
            kwargs["queryset"] = Sector.objects.filter(
                coalition__in=selectors.coalitions_for_steward(user=request.user)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_check(self, request: HttpRequest, obj: Any, changed: list[str], change: bool) -> None:
        """Raise the `ServiceError` the service would raise for this change."""

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        model_admin = self

        class CheckedForm(form_class):  # type: ignore[valid-type, misc]
            def _post_clean(self) -> None:
                super()._post_clean()
                if self.errors:
                    return
                try:
                    model_admin.service_check(request, self.instance, list(self.changed_data), change)
                except services.ServiceError as error:
                    self.add_error(None, str(error))

        return CheckedForm


@admin.register(Coalition)
class CoalitionAdmin(StewardScopedAdmin):
    coalition_path = "pk"
    list_display = ["name", "slug", "minimum_cell_size", "sensitive_cell_size", "gap_threshold"]
    search_fields = ["name", "slug"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Coalition]:
        if request.user.is_superuser:
            return Coalition.objects.all()
        return selectors.coalitions_for_steward(user=request.user)

    def save_model(self, request: HttpRequest, obj: Coalition, form: Any, change: bool) -> None:
        services.coalition_settings_save(coalition=obj, changed=list(form.changed_data), by=_user(request))
        if not change:
            services.sectors_create_default(coalition=obj)


class FrozenWhileOpenAdmin(StewardScopedAdmin):
    """Read-only while the coalition has an open wave (PRIVACY.md rule 9)."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and _is_frozen(obj.coalition):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and _is_frozen(obj.coalition):
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Sector)
class SectorAdmin(FrozenWhileOpenAdmin):
    list_display = ["__str__", "slug", "coalition", "is_sensitive", "is_active", "position"]
    list_filter = ["coalition", "is_sensitive", "is_active"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deactivate a sector instead: members and past waves refer to it.
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["coalition"] if obj is not None else []

    def service_check(self, request: HttpRequest, obj: Any, changed: list[str], change: bool) -> None:
        if obj.coalition_id and _is_frozen(obj.coalition):
            raise services.RosterFrozen(_("Sectors are frozen while a wave is open."))

    def save_model(self, request: HttpRequest, obj: Sector, form: Any, change: bool) -> None:
        services.sector_save(sector=obj, changed=list(form.changed_data), by=_user(request), is_new=not change)


@admin.register(Member)
class MemberAdmin(FrozenWhileOpenAdmin):
    list_display = ["email", "coalition", "sector", "role", "language", "is_active"]
    list_filter = ["coalition", "role", "is_active", "sector"]
    search_fields = ["email"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_fields(request, obj))
        if not request.user.is_superuser:
            # Linking a login to a roster entry gives that login a role: platform admins only. A
            # steward's form has no such field, so it can list nobody's username either.
            return [name for name in fields if name != "user"]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        # An entry stays in its coalition; with a login, its role and active flag are an admin's to change.
        if not request.user.is_superuser and obj.user_id is not None:
            return ["coalition", "role", "is_active"]
        return ["coalition"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # An invited member is kept for the invitations that name them: deactivate instead.
        if obj is not None and obj.invitations.exists():
            return False
        return super().has_delete_permission(request, obj)

    def get_raw_id_fields(self, request: HttpRequest) -> Any:
        return ["user"] if request.user.is_superuser else []

    def service_check(self, request: HttpRequest, obj: Any, changed: list[str], change: bool) -> None:
        if obj.coalition_id:
            services.member_check(member=obj, by=_user(request), changed=changed)

    def save_model(self, request: HttpRequest, obj: Member, form: Any, change: bool) -> None:
        services.member_save(member=obj, changed=list(form.changed_data), by=_user(request), is_new=not change)

    def delete_model(self, request: HttpRequest, obj: Member) -> None:
        try:
            services.member_delete(member=obj, by=_user(request))
        except services.ServiceError as error:
            self.message_user(request, str(error), messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        for member in queryset.select_related("sector"):
            self.delete_model(request, member)


class LogAdmin(StewardScopedAdmin):
    """A log: readable by the coalition's stewards, never added to, changed or deleted."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(LogAdmin):
    list_display = ["happened_at", "coalition", "action", "detail", "actor"]
    list_filter = ["coalition", "action"]


@admin.register(RosterChange)
class RosterChangeAdmin(LogAdmin):
    list_display = ["changed_at", "coalition", "action", "email", "sector", "detail", "actor"]
    list_filter = ["coalition", "action"]
    exclude = ["actor_user"]


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["slug", "version", "created_at"]
    readonly_fields = ["slug", "version", "titles", "definition", "checksum", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # New versions come from `load_instrument`, which validates the file.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Wave)
class WaveAdmin(StewardScopedAdmin):
    list_display = ["label", "coalition", "status", "opens_at", "closes_at", "invited_count"]
    list_filter = ["coalition", "status"]
    # The exact count of released responses is not shown: while a wave is open
    # only the rounded participation of the home page is (PRIVACY.md rule 6).
    readonly_fields = ["status", "invited_count"]
    actions = ["open_now", "close_now"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.status != Wave.Status.DRAFT:
            return [*self.readonly_fields, "coalition", "instrument", "label", "opens_at"]
        if obj is not None:
            # A wave never moves to another coalition: its roster confirmation is that coalition's.
            return [*self.readonly_fields, "coalition"]
        return self.readonly_fields

    def get_actions(self, request: HttpRequest) -> Any:
        actions = super().get_actions(request)
        # The bulk delete page would list an open wave's protected responses (an exact count).
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != Wave.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Wave, form: Any, change: bool) -> None:
        if change:
            services.wave_update(wave=obj, changed=list(form.changed_data), by=_user(request))
            return
        created = services.wave_create(
            coalition=obj.coalition,
            label=obj.label,
            instrument=obj.instrument,
            opens_at=obj.opens_at,
            closes_at=obj.closes_at,
            reminder_days=obj.reminder_days or (),
            by=_user(request),
        )
        obj.pk = created.pk

    def service_check(self, request: HttpRequest, obj: Any, changed: list[str], change: bool) -> None:
        if not change and obj.coalition_id and obj.coalition.waves.filter(label=obj.label).exists():
            raise services.ServiceError(_("The coalition already has a wave with this label."))

    def delete_model(self, request: HttpRequest, obj: Wave) -> None:
        try:
            services.wave_delete(wave=obj, by=_user(request))
        except services.ServiceError as error:
            self.message_user(request, str(error), messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Wave]) -> None:
        for wave in queryset:
            self.delete_model(request, wave)

    @admin.action(description=_("Open the selected draft waves now"))
    def open_now(self, request: HttpRequest, queryset: QuerySet[Wave]) -> None:
        for wave in queryset:
            try:
                services.wave_open(wave_id=wave.pk, by=_user(request))
            except services.ServiceError as error:
                self.message_user(request, f"{wave.label}: {error}", messages.ERROR)

    @admin.action(description=_("Close the selected open waves now"))
    def close_now(self, request: HttpRequest, queryset: QuerySet[Wave]) -> None:
        for wave in queryset:
            try:
                services.wave_close(wave_id=wave.pk, by=_user(request))
            except services.ServiceError as error:
                self.message_user(request, f"{wave.label}: {error}", messages.ERROR)


@admin.register(RosterAttestation)
class RosterAttestationAdmin(LogAdmin):
    coalition_path = "wave__coalition"
    list_display = ["attested_at", "wave", "revision", "attested_by_name"]
    exclude = ["attested_by"]


class SuperuserWriteAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Readable by platform admins only, written through a service, never changed or deleted."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RoleCombination)
class RoleCombinationAdmin(SuperuserWriteAdmin):
    """A platform admin's approval that one login both stewards and researches a coalition (audited)."""

    list_display = ["coalition", "user", "reason", "approved_by", "approved_at"]
    fields = ["coalition", "user", "reason"]
    raw_id_fields = ["user"]

    def save_model(self, request: HttpRequest, obj: RoleCombination, form: Any, change: bool) -> None:
        combination = services.role_combination_approve(
            coalition=obj.coalition, user=obj.user, reason=obj.reason, by=_user(request)
        )
        obj.pk = combination.pk
