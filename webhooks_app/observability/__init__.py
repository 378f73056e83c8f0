"""What the app tells operators: log lines, Prometheus counters, OpenTelemetry spans.

Each works without its optional package (a no-op then). The scrape view and the
database gauges are :mod:`webhooks_app.metrics`.
"""
