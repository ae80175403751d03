from django.urls import path

from exports import api, views

api_urlpatterns = [
    path("exports/", api.ExportListApi.as_view(), name="api-exports"),
    path("exports/<uuid:export_id>/", api.ExportDetailApi.as_view(), name="api-export"),
    path("exports/<uuid:export_id>/download/", api.ExportDownloadApi.as_view(), name="api-export-download"),
    path("exports/<uuid:export_id>/retry/", api.ExportRetryApi.as_view(), name="api-export-retry"),
    path("agreement/", api.AgreementApi.as_view(), name="api-agreement"),
]

urlpatterns = [
    path("", views.export_list, name="exports"),
    path("agreement/", views.agreement, name="exports-agreement"),
    path("access/<slug:slug>/", views.access, name="access"),
    path("<uuid:export_id>/", views.export_detail, name="export"),
    path("<uuid:export_id>/download/", views.export_download, name="export-download"),
    path("<uuid:export_id>/retry/", views.export_retry, name="export-retry"),
]
