from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import api, views

# Under /accounts/; the names are the ones Django's auth views reverse.
urlpatterns = [
    path("password_change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("tokens/", views.api_tokens, name="api-tokens"),
    path("tokens/revoke/", views.api_token_revoke, name="api-token-revoke"),
]

# Under /api/v1/.
api_urlpatterns = [
    path("auth/token/", api.TokenLoginApi.as_view(), name="api-token-login"),
    path("auth/logout/", api.TokenLogoutApi.as_view(), name="api-token-logout"),
    path("auth/logoutall/", api.TokenLogoutAllApi.as_view(), name="api-token-logout-all"),
]
