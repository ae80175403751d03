from django.urls import path

from dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.index, name="index"),
    path("waves/<int:wave_id>/", views.overview, name="overview"),
    path("waves/<int:wave_id>/participation/", views.participation, name="participation"),
    path("waves/<int:wave_id>/<slug:page>.<str:kind>", views.download, name="download"),
    path("waves/<int:wave_id>/heatmap/", views.heatmap, name="heatmap"),
    path("waves/<int:wave_id>/pairs/", views.pairs, name="pairs"),
    path("waves/<int:wave_id>/gaps/", views.gaps, name="gaps"),
    path("waves/<int:wave_id>/trends/", views.trends, name="trends"),
]
