from django.urls import path

from analytics.api import WaveBreakdownsApi, WavePairMatrixApi, WaveTrendsApi

api_urlpatterns = [
    path("waves/<int:wave_id>/breakdowns/", WaveBreakdownsApi.as_view(), name="api-wave-breakdowns"),
    path("waves/<int:wave_id>/pair-matrix/", WavePairMatrixApi.as_view(), name="api-wave-pair-matrix"),
    path("waves/<int:wave_id>/trends/", WaveTrendsApi.as_view(), name="api-wave-trends"),
]
