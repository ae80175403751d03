"""The project's URLs plus the two baselines."""

from django.urls import path

from bench.baseline_views import BaselineSubmitApi, bare_submit
from bench.proposals import ProposalOneStatementApi, ProposalOneTransactionApi
from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("bench/bare/", bare_submit, name="bench-bare"),
    path("bench/drf/", BaselineSubmitApi.as_view(), name="bench-drf"),
    path("bench/proposal-a/", ProposalOneTransactionApi.as_view(), name="bench-proposal-a"),
    path("bench/proposal-b/", ProposalOneStatementApi.as_view(), name="bench-proposal-b"),
    *project_urlpatterns,
]
