"""What the app tells operators: log lines, Prometheus counters, OpenTelemetry spans, and
each endpoint's delivery statistics (``stats``) with their SVG charts (``charts``, pure).

Each works without its optional package (a no-op then). The scrape view and the
database gauges are :mod:`webhooks_app.metrics`.
"""
