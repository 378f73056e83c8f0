"""OpenTelemetry spans: the real SDK with an in-memory exporter, real deliveries and requests.

The SDK's tracer provider is global and can be set once per process: this module
sets it for the session and clears the exporter around each test.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.conftest import ROOT, Reply, wait_until
from tests.receivers import STANDARD_SECRET, behaviour
from webhooks_app import send_event
from webhooks_app.models import Delivery, Endpoint
from webhooks_app.observability import tracing
from webhooks_app.sending import engine
from webhooks_app.testing import WebhookClient

pytestmark = pytest.mark.django_db(transaction=True)

EXPORTER = InMemorySpanExporter()
REMOTE_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
REMOTE_SPAN = "00f067aa0ba902b7"


@pytest.fixture(scope="module", autouse=True)
def _sdk():
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(provider)
    yield
    EXPORTER.clear()


@pytest.fixture(autouse=True)
def _clean(monkeypatch, request):
    EXPORTER.clear()
    behaviour.reset()
    if "celery_worker" not in request.fixturenames:
        request.getfixturevalue("no_wakeups")  # these tests run the engine themselves
    yield
    behaviour.reset()


def spans(name: str) -> list:
    return [span for span in EXPORTER.get_finished_spans() if span.name == name]


def traceparent(span) -> str:
    """The W3C header that names ``span`` as the parent."""
    context = span.context
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def test_each_try_has_a_send_span_with_its_attributes(http_server, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETRY_SCHEDULE": [60]}
    http_server.routes["/busy"] = Reply(status=503)
    ok = Endpoint.objects.create(url=http_server.url("/ok?token=query-secret"))
    busy = Endpoint.objects.create(url=http_server.url("/busy"))
    event = send_event("order.paid", {})
    engine.run()

    by_endpoint = {span.attributes["webhooks.endpoint_id"]: span for span in spans("webhooks.send")}
    assert set(by_endpoint) == {ok.pk, busy.pk}
    good, bad = by_endpoint[ok.pk], by_endpoint[busy.pk]
    assert good.kind is SpanKind.CLIENT
    assert good.attributes["webhooks.event_type"] == "order.paid"
    assert good.attributes["webhooks.event_id"] == str(event.pk)
    assert good.attributes["webhooks.attempt"] == 1
    assert good.attributes["http.response.status_code"] == 200
    assert good.attributes["webhooks.verdict"] == "succeeded"
    assert good.attributes["url.full"].endswith("/ok?token=********")
    assert "error.type" not in good.attributes
    assert good.status.status_code is StatusCode.UNSET
    assert bad.attributes["http.response.status_code"] == 503
    assert bad.attributes["error.type"] == "503"
    assert bad.attributes["webhooks.verdict"] == "retry"
    assert bad.status.status_code is StatusCode.ERROR


def test_a_try_without_an_answer_names_the_error_type(settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETRY_SCHEDULE": []}
    Endpoint.objects.create(url="http://127.0.0.1:9/refused")
    send_event("order.paid", {})
    engine.run()
    (span,) = spans("webhooks.send")
    assert span.attributes["error.type"] == "connection"
    assert "http.response.status_code" not in span.attributes


def test_the_traceparent_sent_is_the_send_spans(http_server):
    Endpoint.objects.create(url=http_server.url())
    send_event("order.paid", {})
    engine.run()
    (span,) = spans("webhooks.send")
    (received,) = http_server.requests
    assert received.headers["traceparent"] == traceparent(span)


def test_sends_on_sender_threads_are_children_of_the_claiming_span(http_server):
    for n in range(3):
        Endpoint.objects.create(url=http_server.url(f"/e{n}"))
    send_event("order.paid", {})
    with trace.get_tracer("tests").start_as_current_span("job") as job:
        engine.run()
    sends = spans("webhooks.send")
    assert len(sends) == 3
    assert {s.parent.span_id for s in sends} == {job.get_span_context().span_id}
    assert {s.context.trace_id for s in sends} == {job.get_span_context().trace_id}
    assert {r.headers["traceparent"][3:35] for r in http_server.requests} == {
        f"{job.get_span_context().trace_id:032x}"
    }


def test_a_worker_sends_with_a_span_and_a_traceparent(http_server, celery_worker):
    Endpoint.objects.create(url=http_server.url())
    send_event("order.paid", {})
    wait_until(lambda: Delivery.objects.filter(status="succeeded").exists())
    wait_until(lambda: spans("webhooks.send"))
    (span,) = spans("webhooks.send")
    assert http_server.requests[0].headers["traceparent"] == traceparent(span)


def test_with_propagation_off_no_traceparent_is_sent(http_server, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "PROPAGATE_TRACE_CONTEXT": False}
    Endpoint.objects.create(url=http_server.url())
    send_event("order.paid", {})
    engine.run()
    assert len(spans("webhooks.send")) == 1  # still traced, just not propagated
    assert "traceparent" not in {name.lower() for name in http_server.requests[0].headers}


def test_ours_replace_an_endpoints_own_traceparent(http_server):
    Endpoint.objects.create(url=http_server.url(), headers={"TraceParent": "made-up"})
    send_event("order.paid", {})
    engine.run()
    (span,) = spans("webhooks.send")
    (received,) = http_server.requests
    sent = [v for k, v in received.headers.items() if k.lower() == "traceparent"]
    assert sent == [traceparent(span)]


def post(msg_id: str, **headers):
    return WebhookClient().post_standard_webhooks(
        "/hooks/standard/",
        {"type": "order.paid"},
        secret=STANDARD_SECRET,
        msg_id=msg_id,
        headers=headers,
    )


def test_a_received_event_has_a_receive_span_under_the_senders_trace():
    response = post("msg_traced", traceparent=f"00-{REMOTE_TRACE}-{REMOTE_SPAN}-01")
    assert response.status_code == 200
    (span,) = spans("webhooks.receive")
    assert span.kind is SpanKind.SERVER
    assert f"{span.context.trace_id:032x}" == REMOTE_TRACE
    assert f"{span.parent.span_id:016x}" == REMOTE_SPAN
    assert span.attributes["webhooks.source"] == "standard"
    assert span.attributes["webhooks.event_id"] == "msg_traced"
    assert span.attributes["webhooks.event_type"] == "order.paid"
    assert span.attributes["webhooks.outcome"] == "processed"
    assert span.attributes["http.response.status_code"] == 200


def test_a_receive_span_under_a_server_span_is_its_child():
    with trace.get_tracer("tests").start_as_current_span("django") as outer:
        post("msg_nested", traceparent=f"00-{REMOTE_TRACE}-{REMOTE_SPAN}-01")
    (span,) = spans("webhooks.receive")
    assert span.kind is SpanKind.INTERNAL
    assert span.parent.span_id == outer.get_span_context().span_id


def test_a_failed_handler_and_a_bad_signature_on_the_span():
    behaviour.fail_times = 1
    assert post("msg_fails").status_code == 500
    bad = WebhookClient().post_standard_webhooks(
        "/hooks/standard/", {"type": "x"}, secret="whsec_" + "A" * 32, msg_id="msg_forged"
    )
    assert bad.status_code == 401
    failed, refused = spans("webhooks.receive")
    assert failed.attributes["webhooks.outcome"] == "failed"
    assert failed.status.status_code is StatusCode.ERROR
    assert refused.attributes["http.response.status_code"] == 401
    assert "webhooks.outcome" not in refused.attributes  # nothing was recorded


def test_without_opentelemetry_nothing_is_traced_or_sent(http_server, monkeypatch):
    monkeypatch.setattr(tracing, "trace", None)
    Endpoint.objects.create(url=http_server.url())
    send_event("order.paid", {})
    assert engine.run() == 1
    assert post("msg_untraced").status_code == 200
    assert EXPORTER.get_finished_spans() == ()
    assert "traceparent" not in http_server.requests[0].headers
    assert Delivery.objects.get().status == "succeeded"


def test_the_module_imports_and_does_nothing_when_the_api_is_missing():
    script = textwrap.dedent(
        """
        import sys

        sys.modules["opentelemetry"] = None  # any import of it raises ImportError
        from webhooks_app.observability import tracing

        assert not tracing.enabled()
        assert tracing.current_context() is None
        headers = {"Content-Type": "application/json"}
        tracing.inject(headers)
        assert headers == {"Content-Type": "application/json"}
        with tracing.send_span(object()) as span, tracing.receive_span("s", {}) as other:
            assert span is None and other is None
        tracing.end_send(span, None)
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
