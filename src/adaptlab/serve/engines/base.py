"""What the gateway asks of an engine: load an adapter from a verified registry copy, stream a request's
tokens, unload. The gateway (serve/app.py) has decided everything else by then: who may call, which
registry version answers, the limits; an engine only generates. Every engine reports the same typed
events, so the client sees the same API, errors and headers whichever engine runs."""

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from adaptlab.models import ResolvedModel
from adaptlab.serve.config import ServeConfig
from adaptlab.serve.errors import ErrorBody, ServeError, error_body
from adaptlab.serve.metrics import ServeMetrics


@dataclass(frozen=True)
class Started:
    queue_seconds: float


@dataclass(frozen=True)
class Token:
    token_id: int


@dataclass(frozen=True)
class Finished:
    reason: str  # "stop" or "length"


@dataclass(frozen=True)
class Failed:
    error: Exception


Event = Started | Token | Finished | Failed


@dataclass(frozen=True)
class GenerationRequest:
    """One request's generation: `adapter` is a version ref (tenant/name@vN) to route through, or None for the
    served model as is; `received_at` is when the HTTP request arrived (perf_counter), for latencies."""

    prompt_ids: list[int]
    adapter: str | None
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    stop_token_ids: frozenset[int]
    received_at: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class GenerationResult:
    token_ids: list[int]
    finish_reason: str


@dataclass(frozen=True)
class EngineContext:
    """What every engine is built from. `fetch(version_ref)` returns a verified local copy of a registered
    version (every file checked against its SHA-256); `pinned` are exact version refs to load at start and keep;
    `merged` is the exact ref of the version `--merge` names."""

    config: ServeConfig
    base: ResolvedModel
    tokenizer: object
    metrics: ServeMetrics
    fetch: Callable[[str], Path]
    pinned: tuple[str, ...] = ()
    merged: str | None = None


class Engine(ABC):
    """The data plane. Built from an EngineContext (the slow part: loading weights, connecting), then
    `start()`ed; `close()` releases it. `stream` yields Started first (or Failed: an adapter that cannot
    load fails before any byte is sent), then Tokens, then Finished or Failed; closing the stream early
    cancels the request."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @property
    @abstractmethod
    def is_ready(self) -> bool: ...

    @abstractmethod
    def describe(self) -> str:
        """One line for the start-up table: what generates, where."""

    @abstractmethod
    async def load_adapter(self, version_ref: str) -> None:
        """Make `version_ref` resident (from `fetch`'s verified copy) until `unload_adapter`; raises why it cannot load."""

    @abstractmethod
    async def unload_adapter(self, version_ref: str) -> None:
        """Let `version_ref` go (an engine may keep it until its memory is needed; never while a request uses it)."""

    @abstractmethod
    def stream(self, request: GenerationRequest) -> AsyncIterator[Event]: ...

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """The whole answer at once; raises the error a Failed event carries."""
        token_ids: list[int] = []
        async for event in self.stream(request):
            if isinstance(event, Failed):
                raise event.error
            if isinstance(event, Token):
                token_ids.append(event.token_id)
            elif isinstance(event, Finished):
                return GenerationResult(token_ids, event.reason)
        raise ServeError(503, "the engine ended the stream without finishing the answer", code="engine_unavailable")


@dataclass(frozen=True)
class PortableFailure:
    """A Failed event's error as plain fields, for engines whose events cross a process boundary
    (our exceptions do not pickle); `error()` rebuilds the refusal the client would have had in-process."""

    body: ErrorBody

    @classmethod
    def of(cls, error: Exception) -> "PortableFailure":
        return cls(error_body(error))

    def error(self) -> ServeError:
        return ServeError(self.body.status, self.body.message, code=self.body.code, param=self.body.param)
