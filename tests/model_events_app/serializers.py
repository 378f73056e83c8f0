from rest_framework import serializers

from tests.model_events_app.models import Order


class OrderSerializer(serializers.ModelSerializer):
    class Meta:
        model = Order
        fields = ["id", "shop", "number", "total", "status"]
