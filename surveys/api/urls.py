from django.urls import path

from surveys.api.views import ResponseSubmitApi

urlpatterns = [
    path("responses/", ResponseSubmitApi.as_view(), name="api-response-submit"),
]
