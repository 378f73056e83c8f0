"""No views: the benchmark serves nothing through Django (system checks want a URLconf)."""

urlpatterns: list = []
