"""Django admin for platform admins and data stewards.

Stewards see only the coalitions they steward. Invitations, the pending pool
and responses are not registered: no admin page can show who answered or
join a member to an answer (PRIVACY.md rule 12).
"""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from surveys import selectors, services
from surveys.models import AuditEvent, Coalition, Instrument, Member, RosterChange, Sector, Wave


def _is_frozen(coalition: Coalition | None) -> bool:
    return coalition is not None and selectors.coalition_has_open_wave(coalition=coalition)


class StewardScopedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Limit rows to the coalitions the user stewards (all, for superusers)."""

    coalition_path = "coalition"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        allowed = selectors.coalitions_for_steward(user=request.user)
        return queryset.filter(**{f"{self.coalition_path}__in": allowed})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "coalition" and not request.user.is_superuser:
            kwargs["queryset"] = selectors.coalitions_for_steward(user=request.user)
        if db_field.name == "sector" and not request.user.is_superuser:
            kwargs["queryset"] = Sector.objects.filter(
                coalition__in=selectors.coalitions_for_steward(user=request.user)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


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
        super().save_model(request, obj, form, change)
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

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            services.coalition_assert_roster_editable(coalition=obj.coalition)
        except services.RosterFrozen as error:
            self.message_user(request, str(error), level=messages.ERROR)
            return
        super().save_model(request, obj, form, change)


@admin.register(Sector)
class SectorAdmin(FrozenWhileOpenAdmin):
    list_display = ["__str__", "slug", "coalition", "is_sensitive", "is_active", "position"]
    list_filter = ["coalition", "is_sensitive", "is_active"]

    def save_model(self, request: HttpRequest, obj: Sector, form: Any, change: bool) -> None:
        if _is_frozen(obj.coalition):
            self.message_user(request, str(_("Sectors are frozen while a wave is open.")), messages.ERROR)
            return
        super().save_model(request, obj, form, change)
        AuditEvent.objects.create(
            coalition=obj.coalition,
            action=AuditEvent.Action.SECTOR_CHANGED,
            actor=request.user.get_username(),
            detail=f"{'changed' if change else 'added'} {obj.slug}: {', '.join(form.changed_data)}"[:300],
        )


@admin.register(Member)
class MemberAdmin(FrozenWhileOpenAdmin):
    list_display = ["email", "coalition", "sector", "role", "language", "is_active"]
    list_filter = ["coalition", "role", "is_active", "sector__slug"]
    search_fields = ["email"]
    raw_id_fields = ["user"]

    def save_model(self, request: HttpRequest, obj: Member, form: Any, change: bool) -> None:
        if _is_frozen(obj.coalition):
            self.message_user(request, str(_("The roster is frozen while a wave is open.")), messages.ERROR)
            return
        super().save_model(request, obj, form, change)
        if not change:
            action = RosterChange.Action.ADDED
        elif "is_active" in form.changed_data and not obj.is_active:
            action = RosterChange.Action.DEACTIVATED
        else:
            action = RosterChange.Action.UPDATED
        RosterChange.objects.create(
            coalition=obj.coalition,
            action=action,
            email=obj.email,
            detail=", ".join(form.changed_data)[:300],
            actor=request.user.get_username(),
        )

    def delete_model(self, request: HttpRequest, obj: Member) -> None:
        RosterChange.objects.create(
            coalition=obj.coalition, action=RosterChange.Action.DELETED, email=obj.email,
            actor=request.user.get_username(),
        )  # fmt: skip
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        RosterChange.objects.bulk_create(
            [
                RosterChange(coalition=member.coalition, action=RosterChange.Action.DELETED, email=member.email,
                             actor=request.user.get_username())
                for member in queryset
            ]
        )  # fmt: skip
        super().delete_queryset(request, queryset)


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
    list_display = ["changed_at", "coalition", "action", "email", "detail", "actor"]
    list_filter = ["coalition", "action"]


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
        return self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != Wave.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    @admin.action(description=_("Open the selected draft waves now"))
    def open_now(self, request: HttpRequest, queryset: QuerySet[Wave]) -> None:
        for wave in queryset:
            try:
                services.wave_open(wave_id=wave.pk)
            except services.ServiceError as error:
                self.message_user(request, f"{wave.label}: {error}", messages.ERROR)

    @admin.action(description=_("Close the selected open waves now"))
    def close_now(self, request: HttpRequest, queryset: QuerySet[Wave]) -> None:
        for wave in queryset:
            try:
                services.wave_close(wave_id=wave.pk)
            except services.ServiceError as error:
                self.message_user(request, f"{wave.label}: {error}", messages.ERROR)
