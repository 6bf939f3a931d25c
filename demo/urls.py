from django.urls import include, path

from . import views

urlpatterns = [
    path("", include("django_middleware.urls")),  # /metrics and /health
    path("", views.index),
    path("api/v1/orders/", views.order_list),
    path("api/v1/orders/<int:pk>/", views.order_detail),
    path("api/v1/orders/<int:pk>/invoice/", views.send_invoice),
    path("api/v1/reports/<slug:name>/", views.report),
    path("api/v1/checkout/", views.checkout),
    path("api/v1/payments/<int:pk>/refund/", views.refund),
    path("api/v1/payments/<int:pk>/capture/", views.capture_payment),
    path("api/v1/inventory/", views.inventory),
    path("api/v1/inventory/sync/", views.sync_inventory),
]
