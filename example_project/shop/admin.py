from django.contrib import admin

from shop.models import Order, ReceivedWebhook


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "total", "created_at"]


@admin.register(ReceivedWebhook)
class ReceivedWebhookAdmin(admin.ModelAdmin):
    list_display = ["webhook_id", "source", "event_type", "times_received", "first_received_at"]
    list_filter = ["source", "event_type"]
