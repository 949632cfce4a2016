from django.urls import path

from . import views

app_name = "uploads"

urlpatterns = [
    path("", views.files, name="list"),
    path("<uuid:pk>/", views.download, name="download"),
]
