from django.apps import AppConfig


class ReceivingBenchConfig(AppConfig):
    name = "benchmarks.receiver_support"
    label = "bench_receiving"
    default_auto_field = "django.db.models.BigAutoField"
