"""`POST /v1/classifications`: a registered classifier (an adapter trained with `--task classification` on this
server's base) labels one text or a list of texts, each with the probability of every label. Who may use which
version, the approval rule, the concurrency limits and the `X-Adaptlab-Model-Version` header are the completions'
own: gateway.py's target resolution (a language model is a 400 naming the endpoints for it) and admission, reused.
The classifier is loaded by its method object on first use and kept in a small least-recently-used set; the forward
pass runs in a worker thread, off the event loop."""

import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Literal

import torch
from cachetools import LRUCache
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from adaptlab.methods import get_method
from adaptlab.methods.base import trained_head
from adaptlab.models import ResolvedModel
from adaptlab.objectives import TEXT_CLASSIFICATION
from adaptlab.registry import Principal
from adaptlab.serve.errors import ServeError
from adaptlab.serve.gateway import ALL_TENANTS, VERSION_HEADER, InFlight, request_target
from adaptlab.serve.protocol import Text, Usage, documented_errors
from adaptlab.serve.runtime import fetch_version

MAX_INPUTS = 64  # texts per request
LOADED_CLASSIFIERS = 2  # classifiers held in memory at once (each holds its own copy of the base)


class ClassificationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    model: Text = Field(min_length=1, description="a classifier version: tenant/name@alias|vN from the registry")
    input: Text | Annotated[list[Text], Field(min_length=1, max_length=MAX_INPUTS)] = Field(
        description=f"one text, or a list of at most {MAX_INPUTS} texts"
    )
    user: Text | None = Field(default=None, description="end-user id: through an alias with a canary it picks the user's arm")

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class Classification(BaseModel):
    index: int = Field(description="the text's position in `input`")
    label: str = Field(description="the most probable label")
    probabilities: dict[str, float] = Field(description="every label's probability (softmax of the head's logits), in head order")


class ClassificationResponse(BaseModel):
    id: str
    object: Literal["list"] = "list"
    created: int
    model: str = Field(description="the version that answered (tenant/name@vN)")
    data: list[Classification]
    usage: Usage


class Classifier:
    """A loaded classifier version: its model and labels (head order)."""

    def __init__(self, model, labels: list[str]):
        self.model = model
        self.labels = labels
        self.lock = threading.Lock()  # one forward pass at a time per classifier

    def classify(self, token_ids: list[list[int]]) -> list[Classification]:
        width = max(map(len, token_ids))
        # padded with the model's own pad id: a causal LM's head reads each row's last token before it
        input_ids = torch.full((len(token_ids), width), self.model.config.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for row, ids in enumerate(token_ids):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention_mask[row, : len(ids)] = 1
        with self.lock, torch.inference_mode():
            probabilities = self.model(input_ids=input_ids, attention_mask=attention_mask).logits.float().softmax(-1)
        return [
            Classification(index=index, label=self.labels[int(row.argmax())], probabilities=dict(zip(self.labels, row.tolist())))
            for index, row in enumerate(probabilities)
        ]


class ClassifierCache:
    """Version ref → loaded Classifier, at most `capacity` of them (request_target has refused any other kind of model)."""

    def __init__(self, base: ResolvedModel, fetch: Callable[[str], Path], capacity: int = LOADED_CLASSIFIERS):
        self.base = base
        self.fetch = fetch
        self.loaded: LRUCache = LRUCache(capacity)
        self.lock = threading.Lock()  # loads happen one at a time: two requests never load the same version twice

    def get(self, ref: str, method: str) -> Classifier:
        with self.lock:
            if ref not in self.loaded:
                folder = self.fetch(ref)
                self.loaded[ref] = Classifier(get_method(method).load_trained(self.base, folder).eval(), trained_head(folder)[1])
            return self.loaded[ref]


def add_classification_route(app: FastAPI, runtime, principal: Callable[[Request], Awaitable[Principal]]) -> None:
    classifiers = ClassifierCache(runtime.base, lambda ref: fetch_version(runtime.registry, ref))

    @app.post("/v1/classifications", responses=documented_errors(400, 401, 403, 404, 409, 411, 413, 429))
    async def classifications(body: ClassificationRequest, caller: Annotated[Principal, Depends(principal)], request: Request) -> ClassificationResponse:
        target = await request_target(runtime, caller, body.model, request, body.user, TEXT_CLASSIFICATION)
        # tokenized on the event loop, as completions are: fast tokenizers are not safe to call from several threads at once
        token_ids = [_checked_ids(runtime, runtime.tokenizer(text, add_special_tokens=True)["input_ids"], index) for index, text in enumerate(body.texts())]
        record = await run_in_threadpool(runtime.cached_registry.version, caller, target.version)
        admission = InFlight(runtime, caller.tenant or ALL_TENANTS)
        try:
            classifier = await run_in_threadpool(classifiers.get, target.version, record.method)
            data = await run_in_threadpool(classifier.classify, token_ids)
        finally:
            admission.release()
        tokens = sum(map(len, token_ids))
        answer = ClassificationResponse(
            id="clf-" + uuid.uuid4().hex, created=int(time.time()), model=target.label, data=data,
            usage=Usage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens),
        )
        return JSONResponse(answer.model_dump(mode="json"), headers={VERSION_HEADER: target.label})


def _checked_ids(runtime, ids: list[int], index: int) -> list[int]:
    limit = runtime.config.max_prompt_tokens
    if not ids:
        raise ServeError(400, f"input[{index}] is empty", code="empty_input", param="input")
    if len(ids) > limit:
        raise ServeError(400, f"input[{index}] is {len(ids)} tokens; this server accepts at most {limit}", code="context_length_exceeded", param="input")
    return ids
