"""OpenTelemetry traces of completion requests, with the GenAI semantic conventions: one SERVER span per
request named `{gen_ai.operation.name} {gen_ai.request.model}`, carrying the requested model, the immutable
version that answered (`gen_ai.response.model`), the sampling parameters, token usage and finish reason,
and `error.type` when it failed. A client's W3C `traceparent` makes the span its child.

Spans are exported by OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set, the
exporter reading its settings from the standard OTEL_* variables; with no exporter no span is made at all.
Prompt and completion text go into spans only when the operator turns on `trace_content`."""

import asyncio
import json
import os
from contextlib import contextmanager
from typing import Iterator

from opentelemetry import propagate
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from adaptlab.serve.errors import error_body
from adaptlab.serve.generation import Outcome
from adaptlab.serve.protocol import ChatCompletionRequest, CompletionRequest

OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
PROVIDER_NAME = "adaptlab"
SERVICE_NAME = "adaptlab-serve"
CLIENT_CLOSED = "client_closed_request"


class RequestSpan:
    """The span of one request: `answered_by` once the model is resolved, then exactly one of `finished` or `failed`."""

    def __init__(self, span: Span | None, capture_content: bool):
        self.span = span
        self.capture_content = capture_content
        self.ended = False

    def answered_by(self, version_label: str, prompt_tokens: int) -> None:
        self._set({gen_ai.GEN_AI_RESPONSE_MODEL: version_label, gen_ai.GEN_AI_USAGE_INPUT_TOKENS: prompt_tokens})

    def finished(self, response_id: str, outcome: Outcome, completion: str) -> None:
        attributes = {
            gen_ai.GEN_AI_RESPONSE_ID: response_id,
            gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS: outcome.completion_tokens,
            gen_ai.GEN_AI_RESPONSE_FINISH_REASONS: [outcome.finish_reason or "cancelled"],
        }
        if self.capture_content:
            attributes[gen_ai.GEN_AI_OUTPUT_MESSAGES] = json.dumps([_message("assistant", completion)])
        self._set(attributes)
        self._end()

    def failed(self, error: BaseException) -> None:
        """Marked with the error code the client was sent (`client_closed_request` when it left mid-answer)."""
        if self.span is not None and not self.ended:
            if isinstance(error, (GeneratorExit, asyncio.CancelledError)):
                code, message = CLIENT_CLOSED, "the client closed the connection"
            else:
                body = error_body(error)
                code, message = body.code or "internal_error", body.message
            self.span.set_attribute(ERROR_TYPE, code)
            self.span.set_status(Status(StatusCode.ERROR, message))
        self._end()

    def _set(self, attributes: dict) -> None:
        if self.span is not None and not self.ended:
            self.span.set_attributes(attributes)

    def _end(self) -> None:
        if self.span is not None and not self.ended:
            self.span.end()
        self.ended = True


class RequestTracer:
    """The server's own tracer provider (not the process-global one, so several servers can run in one process)."""

    def __init__(self, capture_content: bool = False):
        self.capture_content = capture_content
        self.provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
        self.tracer = self.provider.get_tracer("adaptlab.serve")
        self.exporting = False
        if any(os.environ.get(name) for name in OTLP_ENDPOINT_VARIABLES):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            self.exporting = True

    def export_to(self, exporter: SpanExporter) -> None:
        """Also hand every span to `exporter` as it ends (e.g. the SDK's InMemorySpanExporter)."""
        self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        self.exporting = True

    @contextmanager
    def request(self, body: CompletionRequest | ChatCompletionRequest, headers) -> Iterator[RequestSpan]:
        """A span for a completion request; ended here if the block raises, else by the RequestSpan's owner."""
        span = None
        if self.exporting:
            operation = _operation(body)
            span = self.tracer.start_span(
                f"{operation} {body.model}", kind=SpanKind.SERVER, context=propagate.extract(headers), attributes=_request_attributes(operation, body)
            )
            if self.capture_content:
                span.set_attribute(gen_ai.GEN_AI_INPUT_MESSAGES, json.dumps(_input_messages(body)))
        request_span = RequestSpan(span, self.capture_content)
        try:
            yield request_span
        except BaseException as exc:
            request_span.failed(exc)
            raise

    def shutdown(self) -> None:
        self.provider.shutdown()


def _operation(body: CompletionRequest | ChatCompletionRequest) -> str:
    return gen_ai.GenAiOperationNameValues.CHAT.value if isinstance(body, ChatCompletionRequest) else gen_ai.GenAiOperationNameValues.TEXT_COMPLETION.value


def _request_attributes(operation: str, body: CompletionRequest | ChatCompletionRequest) -> dict:
    attributes = {
        gen_ai.GEN_AI_OPERATION_NAME: operation,
        gen_ai.GEN_AI_PROVIDER_NAME: PROVIDER_NAME,
        gen_ai.GEN_AI_REQUEST_MODEL: body.model,
        gen_ai.GEN_AI_REQUEST_TEMPERATURE: body.temperature,
        gen_ai.GEN_AI_REQUEST_TOP_P: body.top_p,
        gen_ai.GEN_AI_REQUEST_MAX_TOKENS: body.requested_max_tokens() if isinstance(body, ChatCompletionRequest) else body.max_tokens,
        gen_ai.GEN_AI_REQUEST_SEED: body.seed,
    }
    return {name: value for name, value in attributes.items() if value is not None}


def _input_messages(body: CompletionRequest | ChatCompletionRequest) -> list[dict]:
    if isinstance(body, ChatCompletionRequest):
        return [_message(message.role, message.content) for message in body.messages]
    return [_message("user", body.prompt)]


def _message(role: str, text: str) -> dict:
    """A message in the GenAI conventions' structured form (role and text parts)."""
    return {"role": role, "parts": [{"type": "text", "content": text}]}
