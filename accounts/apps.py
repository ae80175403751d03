from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Staff sign-in: lockout after failed attempts, password reset and change, API tokens."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
