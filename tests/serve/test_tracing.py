"""OpenTelemetry spans of completion requests (loopback server, builtin:tiny): the GenAI semantic conventions
with the immutable version as `gen_ai.response.model`, token usage from the response, errors marked, a client's
traceparent honoured; exported by OTLP/HTTP to a collector when OTEL_EXPORTER_OTLP_ENDPOINT is set; prompt and
completion text only with `trace_content`."""

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from adaptlab.serve.config import ServeConfig
from adaptlab.serve.generation import Outcome
from adaptlab.serve.protocol import ChatCompletionRequest
from adaptlab.serve.server import running_server
from adaptlab.serve.tracing import RequestTracer

from .monitoring_world import build_world

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver: keeps each POST /v1/traces body (protobuf ExportTraceServiceRequest)."""

    bodies: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append(gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def collector():
    http = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{http.server_address[1]}", Collector.bodies
    http.shutdown()


@pytest.fixture(scope="module")
def traced(tiny_model, tmp_path_factory, collector):
    """(server, acme client, in-memory exporter, collector bodies, globex token) with OTLP pointed at the collector."""
    endpoint, bodies = collector
    world = build_world(tmp_path_factory.mktemp("traces"), tiny_model, {"bot": (["hello there"], 0)})
    config = ServeConfig(model="builtin:tiny", registry=world.registry_root, port=0, max_wait_ms=0, default_max_tokens=3, drift_sample_rate=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        with running_server(config) as running:
            exporter = InMemorySpanExporter()
            running.runtime.tracer.export_to(exporter)
            with httpx.Client(base_url=running.url, headers={"Authorization": f"Bearer {world.acme_token}"}, timeout=60) as acme:
                yield running, acme, exporter, bodies


def test_a_completion_span_carries_the_version_and_usage(traced):
    _, acme, exporter, _ = traced
    exporter.clear()
    answer = acme.post("/v1/completions", json={"model": "acme/bot@production", "prompt": "Once upon", "max_tokens": 3, "temperature": 0}).json()
    (span,) = exporter.get_finished_spans()
    assert span.name == "text_completion acme/bot@production" and span.kind == SpanKind.SERVER
    attributes = dict(span.attributes)
    assert attributes["gen_ai.operation.name"] == "text_completion"
    assert attributes["gen_ai.request.model"] == "acme/bot@production"
    assert attributes["gen_ai.response.model"] == "acme/bot@v1" == answer["model"]
    assert attributes["gen_ai.usage.input_tokens"] == answer["usage"]["prompt_tokens"]
    assert attributes["gen_ai.usage.output_tokens"] == answer["usage"]["completion_tokens"]
    assert attributes["gen_ai.response.id"] == answer["id"]
    assert attributes["gen_ai.response.finish_reasons"] == (answer["choices"][0]["finish_reason"],)
    assert attributes["gen_ai.request.max_tokens"] == 3 and attributes["gen_ai.request.temperature"] == 0
    assert not any(name in attributes for name in ("gen_ai.input.messages", "gen_ai.output.messages"))  # content is off by default


def test_a_streamed_chat_span_ends_with_the_stream_and_joins_the_callers_trace(traced):
    _, acme, exporter, _ = traced
    exporter.clear()
    body = {"model": "acme/bot@v1", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "stream": True}
    with acme.stream("POST", "/v1/chat/completions", json=body, headers={"traceparent": TRACEPARENT}) as response:
        assert response.status_code == 200
        list(response.iter_lines())
    (span,) = exporter.get_finished_spans()
    assert span.name == "chat acme/bot@v1" and span.attributes["gen_ai.response.model"] == "acme/bot@v1"
    assert span.attributes["gen_ai.usage.output_tokens"] == 2
    assert format(span.context.trace_id, "032x") == TRACE_ID and span.parent is not None


def test_a_refused_request_is_an_error_span(traced):
    running, acme, exporter, _ = traced
    exporter.clear()
    assert acme.post("/v1/completions", json={"model": "globex/secret@v1", "prompt": "x"}).status_code == 403
    assert acme.post("/v1/completions", json={"model": "acme/bot@v1", "prompt": "x", "max_tokens": 10_000}).status_code == 400
    refused, too_long = exporter.get_finished_spans()
    assert refused.status.status_code == StatusCode.ERROR and refused.attributes["error.type"] == "model_access_denied"
    assert "gen_ai.response.model" not in refused.attributes  # refused before any version answered
    assert too_long.attributes["error.type"] == "max_tokens_too_large" and too_long.attributes["gen_ai.response.model"] == "acme/bot@v1"


def test_spans_reach_an_otlp_collector(traced):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    running, acme, _, bodies = traced
    acme.post("/v1/completions", json={"model": "acme/bot@production", "prompt": "for the collector"})
    assert running.runtime.tracer.provider.force_flush(10_000)
    exported = [ExportTraceServiceRequest.FromString(body) for body in bodies]
    spans = [span for request in exported for resource in request.resource_spans for scope in resource.scope_spans for span in scope.spans]
    models = {attribute.value.string_value for span in spans for attribute in span.attributes if attribute.key == "gen_ai.response.model"}
    assert "acme/bot@v1" in models
    services = {a.value.string_value for request in exported for r in request.resource_spans for a in r.resource.attributes if a.key == "service.name"}
    assert services == {"adaptlab-serve"}


@pytest.mark.parametrize("capture_content", [False, True])
def test_prompt_and_completion_text_only_when_enabled(capture_content):
    tracer = RequestTracer(capture_content=capture_content)
    exporter = InMemorySpanExporter()
    tracer.export_to(exporter)
    body = ChatCompletionRequest(model="acme/bot@v1", messages=[{"role": "user", "content": "my secret question"}])
    with tracer.request(body, {}) as span:
        span.answered_by("acme/bot@v1", 5)
    span.finished("chatcmpl-1", Outcome(finish_reason="stop", completion_tokens=2), "the answer")
    (finished,) = exporter.get_finished_spans()
    text = json.dumps(dict(finished.attributes))
    assert ("my secret question" in text and "the answer" in text) is capture_content
    assert ("secret" in text) is capture_content
    if capture_content:
        assert json.loads(finished.attributes["gen_ai.input.messages"]) == [{"role": "user", "parts": [{"type": "text", "content": "my secret question"}]}]
    tracer.shutdown()
