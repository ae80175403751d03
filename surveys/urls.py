from django.urls import path

from surveys import oversight_views, views

# Neutral paths: nothing in the address bar or history names the subject.
survey_urlpatterns = [
    path("q/", views.survey, name="survey"),
    path("q/done", views.survey_done, name="survey-done"),
    path("q/exit", views.survey_exit, name="survey-exit"),
    path("q/<str:token>", views.survey_enter, name="survey-enter"),
]

staff_urlpatterns = [
    path("", views.home, name="home"),
    path("manage/<slug:slug>/roster/", views.roster_import, name="roster-import"),
    path("manage/<slug:slug>/", oversight_views.coalition_overview, name="coalition-overview"),
    path("manage/<slug:slug>/roster/history/", oversight_views.roster_history, name="roster-history"),
    path("manage/<slug:slug>/waves/<int:wave_id>/roster/", oversight_views.roster_review, name="roster-review"),
    path("manage/<slug:slug>/audit/", oversight_views.audit_log, name="audit-log"),
]
