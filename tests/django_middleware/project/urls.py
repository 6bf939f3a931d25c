from django.urls import include, path, re_path

from . import views

orders = [
    path("orders/", views.ok),
    path("orders/<int:pk>/", views.order),
]

urlpatterns = [
    path("", include("django_middleware.urls")),
    path("", views.ok),
    path("api/v1/", include(orders)),
    path("items/<slug:slug>/", views.ok),
    re_path(r"^legacy/(?P<year>[0-9]{4})/$", views.ok),
    path("sleep/<int:ms>/", views.sleep),
    path("async/sleep/<int:ms>/", views.async_sleep),
    path("boom/database/", views.database_down),
    path("boom/value/", views.bad_value),
    path("async/boom/value/", views.async_bad_value),
    path("query/", views.query),
    path("status/<int:code>/", views.status),
    path("sign-in/<str:name>/", views.sign_in),
]
