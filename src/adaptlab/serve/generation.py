"""Turn an engine's token stream into an async stream of text pieces, recording the per-adapter latency and
token metrics on the way (queue time, time to first token, inter-token latency, end-to-end; the last
three from the request's HTTP arrival)."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from adaptlab.serve.engines.base import Engine, Failed, Finished, GenerationRequest, Started, Token
from adaptlab.serve.errors import ServeError
from adaptlab.serve.metrics import ServeMetrics


class IncrementalText:
    """Decoded text grown token by token; holds back a piece that ends inside a multi-byte character."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.token_ids: list[int] = []
        self.sent = ""

    def push(self, token_id: int) -> str:
        self.token_ids.append(token_id)
        text = self.tokenizer.decode(self.token_ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return ""
        piece, self.sent = text[len(self.sent) :], text
        return piece

    def rest(self) -> str:
        text = self.tokenizer.decode(self.token_ids, skip_special_tokens=True)
        piece, self.sent = text[len(self.sent) :], text
        return piece


@dataclass
class Outcome:
    finish_reason: str | None = None
    completion_tokens: int = 0
    first_token_s: float | None = None  # from HTTP arrival
    latency_s: float | None = None  # from HTTP arrival to the end (set when the stream is done)
    failed: bool = False  # the engine failed (adapter load or decoding), not the client

    @property
    def answered(self) -> bool:
        """Finished or failed; False when the client left first."""
        return self.finish_reason is not None or self.failed


class GenerationStream:
    """`open` a request on an engine; `await started()` raises a load failure before any byte is sent; then
    iterate `pieces()`. `on_done(stream)` is called once when the stream ends either way."""

    def __init__(self, metrics: ServeMetrics, tokenizer, label: str, on_done: Callable[["GenerationStream"], None] | None = None):
        self.metrics = metrics
        self.label = label
        self.text = IncrementalText(tokenizer)
        self.outcome = Outcome()
        self.on_done = on_done

    def open(self, engine: Engine, request: GenerationRequest) -> None:
        self.request = request
        self.events = engine.stream(request)

    async def started(self) -> None:
        try:
            event = await anext(self.events)
        except BaseException:
            await self.events.aclose()
            raise
        if isinstance(event, Failed):
            self.outcome.failed = True
            await self.events.aclose()
            self._done()
            raise event.error
        assert isinstance(event, Started)
        self.metrics.queue_time.labels(self.label).observe(event.queue_seconds)
        self.metrics.tokens.labels(self.label, "input").inc(len(self.request.prompt_ids))

    async def pieces(self) -> AsyncIterator[str]:
        last_token_at = None
        try:
            async for event in self.events:
                if isinstance(event, Failed):
                    self.outcome.failed = True
                    raise event.error
                if isinstance(event, Finished):
                    self.outcome.finish_reason = event.reason
                    if rest := self.text.rest():
                        yield rest
                    break
                assert isinstance(event, Token)
                now = time.perf_counter()
                if last_token_at is None:
                    self.outcome.first_token_s = now - self.request.received_at
                    self.metrics.time_to_first_token.labels(self.label).observe(self.outcome.first_token_s)
                else:
                    self.metrics.time_per_output_token.labels(self.label).observe(now - last_token_at)
                last_token_at = now
                self.outcome.completion_tokens += 1
                if piece := self.text.push(event.token_id):
                    yield piece
            else:
                self.outcome.failed = True
                raise ServeError(503, "the engine ended the stream before the answer finished", code="engine_unavailable")
        finally:
            await self.events.aclose()  # a stream left early cancels the request in the engine
            self.metrics.tokens.labels(self.label, "output").inc(self.outcome.completion_tokens)
            self._done()
            self.metrics.request_duration.labels(self.label).observe(self.outcome.latency_s)

    async def full_text(self, disconnected: Awaitable[None]) -> str:
        """The whole answer, for a non-streamed response. If `disconnected` completes first (the client left),
        decoding stops at once (the row leaves its batch, as a closed stream's does) and a 499 is raised."""
        collecting = asyncio.ensure_future(self._joined())
        watching = asyncio.ensure_future(disconnected)
        try:
            await asyncio.wait((collecting, watching), return_when=asyncio.FIRST_COMPLETED)
            if collecting.done():
                return collecting.result()
            raise ServeError(499, "the client closed the connection before the answer was ready", code="client_closed_request")
        finally:
            collecting.cancel()
            watching.cancel()

    def _done(self) -> None:
        self.outcome.latency_s = time.perf_counter() - self.request.received_at
        if self.on_done is not None:
            self.on_done(self)

    async def _joined(self) -> str:
        return "".join([piece async for piece in self.pieces()])
