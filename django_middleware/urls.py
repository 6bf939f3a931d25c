"""`path("", include("django_middleware.urls"))` serves /metrics and /health."""

from django.urls import path

from . import views

urlpatterns = [
    path("metrics", views.metrics, name="painel-metrics"),
    path("health", views.health_view, name="painel-health"),
]
