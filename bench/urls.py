"""The project's URLs plus the two baselines."""

from django.urls import path

from bench.baseline_views import BaselineSubmitApi, bare_submit
from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("bench/bare/", bare_submit, name="bench-bare"),
    path("bench/drf/", BaselineSubmitApi.as_view(), name="bench-drf"),
    *project_urlpatterns,
]
