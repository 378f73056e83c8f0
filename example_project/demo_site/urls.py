from django.contrib import admin
from django.urls import path
from shop import views

urlpatterns = [
    path("admin/", admin.site.urls),
    # Where the demo's endpoints point: this project receives its own webhooks.
    path("hooks/shop/", views.shop_hook, name="shop-hook"),
    path("hooks/flaky/", views.flaky_hook, name="flaky-hook"),
]
