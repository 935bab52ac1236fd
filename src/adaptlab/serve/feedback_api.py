"""`POST /v1/feedback`: a tenant rates one of its completions by the `id` the server returned. The
rating is stored in the registry with the version that produced the completion (registry.feedback);
another tenant's completion answers 404 like an unknown one, and the attempt is audited."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from adaptlab.registry import Principal
from adaptlab.registry.canary_figures import POSITIVE_ABOVE
from adaptlab.registry.entities import FeedbackRecord
from adaptlab.serve.protocol import FeedbackRequest, FeedbackResponse, documented_errors
from adaptlab.serve.runtime import Runtime

WRITE_WAIT_S = 5.0  # how long a rating waits for its completion's record, still queued for the writer, to be written


def add_feedback_route(app: FastAPI, runtime: Runtime, principal: Callable[[Request], Awaitable[Principal]]) -> None:
    @app.post("/v1/feedback", status_code=201, responses=documented_errors(400, 401, 404, 409, 411, 413))
    async def feedback(body: FeedbackRequest, caller: Annotated[Principal, Depends(principal)]) -> FeedbackResponse:
        record = await run_in_threadpool(_rate, runtime, caller, body)
        return FeedbackResponse(**record.model_dump())


def _rate(runtime: Runtime, caller: Principal, body: FeedbackRequest) -> FeedbackRecord:
    if runtime.completions is not None:
        runtime.completions.wait_written(body.completion_id, WRITE_WAIT_S)
    record = runtime.registry.add_feedback(caller, body.completion_id, body.score, body.comment)
    runtime.metrics.feedback.labels(record.model, "positive" if record.score > POSITIVE_ABOVE else "negative").inc()
    return record
