from django.contrib import admin

from shop.models import Order, OrderNotification


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "total", "created_at"]


@admin.register(OrderNotification)
class OrderNotificationAdmin(admin.ModelAdmin):
    list_display = ["order_id", "source", "customer", "total", "webhook_id", "recorded_at"]
    list_filter = ["source"]
    search_fields = ["webhook_id", "customer"]
