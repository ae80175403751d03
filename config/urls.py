from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from accounts import views as account_views
from accounts.urls import api_urlpatterns as accounts_api
from analytics.urls import api_urlpatterns as analytics_api
from exports.urls import api_urlpatterns as exports_api
from surveys.urls import staff_urlpatterns, survey_urlpatterns

urlpatterns = [
    *survey_urlpatterns,
    *staff_urlpatterns,
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("accounts.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("dashboards/", include("dashboards.urls")),
    path("exports/", include("exports.urls")),
    # Named so that the admin login page links to it; the same neutral, throttled view.
    path("admin/password_reset/", account_views.PasswordResetView.as_view(), name="admin_password_reset"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("surveys.api.urls")),
    path("api/v1/", include(accounts_api)),
    path("api/v1/", include(analytics_api)),
    path("api/v1/", include(exports_api)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]
