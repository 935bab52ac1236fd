"""The HTTP API: OpenAI-compatible `/v1/completions`, `/v1/chat/completions`, `/v1/models`, plus
`/v1/feedback` (feedback_api.py), `/v1/classifications` (classifications.py), `/metrics`, `/healthz`, `/readyz` and `/monitor/drift`. Every refusal is a 4xx in OpenAI's error shape."""

import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from adaptlab.data.prompts import chat_prompt_text
from adaptlab.errors import AdaptlabError
from adaptlab.objectives import TEXT_GENERATION
from adaptlab.registry import Principal
from adaptlab.serve.access import caller_principal, check_metrics_token
from adaptlab.serve.classifications import add_classification_route
from adaptlab.serve.drift_report import DriftReport
from adaptlab.serve.engines.base import GenerationRequest
from adaptlab.serve.errors import ErrorBody, ServeError, error_body, validation_message
from adaptlab.serve.feedback_api import add_feedback_route
from adaptlab.serve.gateway import (
    ALL_TENANTS,
    VERSION_HEADER,
    InFlight,
    Target,
    request_target,
)
from adaptlab.serve.generation import GenerationStream
from adaptlab.serve.metrics import UNRESOLVED_ADAPTER
from adaptlab.serve.protocol import (
    EVENT_STREAM,
    AssistantMessage,
    ChatChoice,
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    ModelCard,
    ModelList,
    Usage,
    documented_errors,
    without_unused_422,
)
from adaptlab.serve.resolution import servable_refusal
from adaptlab.serve.runtime import Runtime
from adaptlab.serve.sse import chat_events, completion_events
from adaptlab.serve.tracing import RequestSpan

REQUEST_ERRORS = documented_errors(400, 401, 403, 404, 408, 409, 411, 413, 429, 503)


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="adaptlab serve", docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    _install_error_handlers(app, runtime)

    @app.middleware("http")
    async def limit_body_and_count(request: Request, call_next):
        request.state.received_at = time.perf_counter()
        request.state.adapter_label = UNRESOLVED_ADAPTER
        request.state.canary_arm = None  # (alias ref, arm) when an alias with a canary answers
        refusal = _body_refusal(request, runtime.config.max_request_bytes)
        response = _error_response(refusal) if refusal else await call_next(request)
        if request.url.path.startswith("/v1/"):
            label = request.state.adapter_label
            runtime.metrics.requests.labels(label, str(response.status_code)).inc()
            if request.state.canary_arm is not None:
                runtime.metrics.canary_requests.labels(*request.state.canary_arm, str(response.status_code)).inc()
            if refusal:
                runtime.metrics.errors.labels(label, refusal.json()["error"]["type"]).inc()
        return response

    async def principal(request: Request) -> Principal:
        return await caller_principal(runtime, request)

    Caller = Annotated[Principal, Depends(principal)]

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "not ready"}})
    async def readyz() -> JSONResponse:
        ready = runtime.engine.is_ready
        return JSONResponse({"status": "ready" if ready else "not ready", "model": runtime.base_name}, status_code=200 if ready else 503)

    @app.get("/metrics", response_class=PlainTextResponse, responses=documented_errors(401))
    async def metrics(request: Request) -> Response:
        await check_metrics_token(runtime, request)
        return Response(runtime.metrics.exposition(), media_type=runtime.metrics.content_type)

    @app.get("/v1/models", responses=documented_errors(401))
    async def list_models(caller: Caller) -> ModelList:
        return ModelList(data=await run_in_threadpool(_model_cards, runtime, caller))

    @app.get("/monitor/drift", responses=documented_errors(400, 401, 403, 404, 409))
    async def drift(model: str, caller: Caller) -> DriftReport:
        """Drift of a version's sampled live prompts from its training prompts (`adaptlab monitor drift`); tenant-scoped."""
        record = await run_in_threadpool(runtime.cached_registry.version, caller, model)
        return await run_in_threadpool(runtime.drift.report, model, record.ref)

    @app.post("/v1/completions", responses={200: {"model": CompletionResponse, "content": EVENT_STREAM}, **REQUEST_ERRORS})
    async def completions(body: CompletionRequest, caller: Caller, request: Request):
        with runtime.tracer.request(body, request.headers) as span:
            target = await request_target(runtime, caller, body.model, request, body.user, TEXT_GENERATION)
            # Tokenized on the event loop: fast tokenizers are not safe to call from several threads at once.
            prompt_ids = runtime.tokenizer(body.prompt, add_special_tokens=True)["input_ids"]
            answer = await _answer(runtime, caller, target, body, body.max_tokens, prompt_ids, request, span, chat=False)
        _sample_for_drift(runtime, target, body.prompt)
        return answer

    @app.post("/v1/chat/completions", responses={200: {"model": ChatCompletionResponse, "content": EVENT_STREAM}, **REQUEST_ERRORS})
    async def chat_completions(body: ChatCompletionRequest, caller: Caller, request: Request):
        with runtime.tracer.request(body, request.headers) as span:
            target = await request_target(runtime, caller, body.model, request, body.user, TEXT_GENERATION)
            prompt_ids = _chat_prompt_ids(runtime.tokenizer, body)
            answer = await _answer(runtime, caller, target, body, body.requested_max_tokens(), prompt_ids, request, span, chat=True)
        _sample_for_drift(runtime, target, chat_prompt_text((message.role, message.content) for message in body.messages))
        return answer

    add_feedback_route(app, runtime, principal)
    add_classification_route(app, runtime, principal)
    app.openapi_schema = without_unused_422(app.openapi())
    return app


def _install_error_handlers(app: FastAPI, runtime: Runtime) -> None:
    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        body = error_body(exc)
        if request.url.path.startswith("/v1/") and body.status >= 400:
            runtime.metrics.errors.labels(getattr(request.state, "adapter_label", UNRESOLVED_ADAPTER), body.json()["error"]["type"]).inc()
        return _error_response(body)

    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = validation_message(list(exc.errors()))
        return await on_error(request, ServeError(400, message, code="invalid_request", param=param))

    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "unknown_url", 405: "method_not_allowed"}.get(exc.status_code)
        response = await on_error(request, ServeError(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", code=code))
        response.headers.update(exc.headers or {})  # e.g. a 405's Allow
        return response

    app.add_exception_handler(AdaptlabError, on_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_error)


def _body_refusal(request: Request, max_request_bytes: int) -> ErrorBody | None:
    """411 for a POST without Content-Length, 413 for one above the limit; checked before the body is read."""
    if request.method != "POST":
        return None
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        return ErrorBody(411, "send a Content-Length header with the request body")
    if int(length) > max_request_bytes:
        return ErrorBody(413, f"request body is {length} bytes; this server accepts at most {max_request_bytes}", "request_too_large")
    return None


def _error_response(body: ErrorBody) -> JSONResponse:
    return JSONResponse(body.json(), status_code=body.status)


def _sample_for_drift(runtime: Runtime, target: Target, prompt: str) -> None:
    """Offer an answered prompt to drift monitoring when a registry version answered it (the base has no reference)."""
    if target.label != runtime.base_name:
        runtime.drift.offer(target.label, prompt)


def _chat_prompt_ids(tokenizer, body: ChatCompletionRequest) -> list[int]:
    messages = [{"role": m.role, "content": m.content} for m in body.messages]
    if not getattr(tokenizer, "chat_template", None):
        raise ServeError(400, "this base model's tokenizer has no chat template; use /v1/completions", code="no_chat_template")
    from jinja2 import TemplateError

    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except TemplateError as exc:  # templates may refuse e.g. roles out of order
        raise ServeError(
            400, f"the base model's chat template refused these messages: {exc}", code="invalid_messages", param="messages"
        ) from exc
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _checked_max_tokens(runtime: Runtime, requested: int | None, prompt_tokens: int) -> int:
    config = runtime.config
    if prompt_tokens == 0:
        raise ServeError(400, "the prompt is empty", code="empty_prompt", param="prompt")
    if prompt_tokens > config.max_prompt_tokens:
        raise ServeError(
            400,
            f"the prompt is {prompt_tokens} tokens; this server accepts at most {config.max_prompt_tokens}",
            code="context_length_exceeded",
        )
    max_tokens = requested if requested is not None else config.default_max_tokens
    if max_tokens > config.max_tokens_limit:
        raise ServeError(
            400,
            f"max_tokens is {max_tokens}; this server allows at most {config.max_tokens_limit}",
            code="max_tokens_too_large",
            param="max_tokens",
        )
    if prompt_tokens + max_tokens > runtime.max_context_tokens:
        raise ServeError(
            400,
            f"prompt ({prompt_tokens} tokens) plus max_tokens ({max_tokens}) exceeds the model's context of {runtime.max_context_tokens} tokens",
            code="context_length_exceeded",
            param="max_tokens",
        )
    return max_tokens


async def _answer(
    runtime: Runtime,
    caller: Principal,
    target: Target,
    body,
    requested_max_tokens: int | None,
    prompt_ids: list[int],
    request: Request,
    span: RequestSpan,
    *,
    chat: bool,
):
    span.answered_by(target.label, len(prompt_ids))
    max_tokens = _checked_max_tokens(runtime, requested_max_tokens, len(prompt_ids))
    admission = InFlight(runtime, caller.tenant or ALL_TENANTS)
    response_id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
    on_done = None
    if runtime.completions is not None:
        on_done = runtime.completions.on_done(
            completion_id=response_id,
            tenant=caller.tenant or "",
            version_ref=target.version,
            model=target.label,
            alias=target.alias,
            body=body,
        )
    try:
        stream = GenerationStream(runtime.metrics, runtime.tokenizer, target.label, on_done)
        generation = GenerationRequest(
            prompt_ids=prompt_ids,
            adapter=target.adapter,
            max_new_tokens=max_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
            seed=body.seed,
            stop_token_ids=runtime.stop_token_ids,
            received_at=request.state.received_at,
        )
        stream.open(runtime.engine, generation)
        await stream.started()
    except BaseException:
        admission.release()
        raise
    created = int(time.time())
    headers = {VERSION_HEADER: target.label}
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        events = chat_events if chat else completion_events
        return StreamingResponse(
            _released(admission, events(runtime, stream, response_id, created, target.label, include_usage), span, response_id, stream),
            media_type="text/event-stream",
            headers=headers,
        )
    try:
        text = await stream.full_text(_client_gone(request))
    finally:
        admission.release()
    span.finished(response_id, stream.outcome, text)
    usage = Usage(
        prompt_tokens=len(prompt_ids),
        completion_tokens=stream.outcome.completion_tokens,
        total_tokens=len(prompt_ids) + stream.outcome.completion_tokens,
    )
    reason = stream.outcome.finish_reason
    if chat:
        answer = ChatCompletionResponse(
            id=response_id,
            created=created,
            model=target.label,
            system_fingerprint=runtime.fingerprint,
            choices=[ChatChoice(message=AssistantMessage(content=text), finish_reason=reason)],
            usage=usage,
        )
    else:
        answer = CompletionResponse(
            id=response_id,
            created=created,
            model=target.label,
            system_fingerprint=runtime.fingerprint,
            choices=[CompletionChoice(text=text, finish_reason=reason)],
            usage=usage,
        )
    return JSONResponse(answer.model_dump(mode="json"), headers=headers)


async def _client_gone(request: Request) -> None:
    """Returns when the client closes the connection (its body has been read by now, so nothing else can arrive)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _released(
    admission: InFlight, events: AsyncIterator[str], span: RequestSpan, response_id: str, stream: GenerationStream
) -> AsyncIterator[str]:
    try:
        async for event in events:
            yield event
    except BaseException as exc:
        span.failed(exc)
        raise
    finally:
        admission.release()
        span.finished(response_id, stream.outcome, stream.text.sent)


def _model_cards(runtime: Runtime, caller: Principal) -> list[ModelCard]:
    now = int(time.time())
    if runtime.merged is not None:
        merged = runtime.merged
        if caller.tenant != merged.tenant:
            return []
        return [ModelCard(id=runtime.config.merge, created=now, owned_by=merged.tenant, parent=runtime.base_name, root=merged.ref)]
    cards = [ModelCard(id=runtime.base_name, created=now, owned_by="adaptlab", parent=None, root=runtime.base_name)]
    for name, record in runtime.cached_registry.listed_versions(caller):
        if servable_refusal(record, runtime.base, allow_unapproved=runtime.config.allow_unapproved) is None:
            cards.append(ModelCard(id=name, created=now, owned_by=record.tenant, parent=runtime.base_name, root=record.ref))
    return cards
