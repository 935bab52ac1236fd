"""Streamed answers as OpenAI's server-sent events: one chunk per text piece, a closing chunk with the
finish reason, an optional usage chunk, then `[DONE]`; completions and chat differ only in the chunk shape."""

import json
from collections.abc import AsyncIterator

from adaptlab.serve.errors import error_body
from adaptlab.serve.generation import GenerationStream
from adaptlab.serve.protocol import (
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatDelta,
    CompletionChoice,
    CompletionResponse,
    Usage,
)
from adaptlab.serve.runtime import Runtime


def _sse(payload: dict | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


async def _streamed(stream: GenerationStream, chunk, usage_chunk, include_usage: bool) -> AsyncIterator[str]:
    """SSE lines: one chunk per text piece, a closing chunk with the finish reason, optional usage, [DONE].
    A failure after the first byte can only be reported in-band, as an error event."""
    try:
        async for piece in stream.pieces():
            yield _sse(chunk(piece, None))
        yield _sse(chunk(None, stream.outcome.finish_reason))
        if include_usage:
            prompt = len(stream.request.prompt_ids)
            completion = stream.outcome.completion_tokens
            yield _sse(usage_chunk(Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)))
    except Exception as exc:  # noqa: BLE001 - headers are sent; report in-band
        yield _sse(error_body(exc).json())
    yield _sse("[DONE]")


def completion_events(runtime: Runtime, stream: GenerationStream, response_id: str, created: int, label: str, include_usage: bool):
    def chunk(piece: str | None, reason: str | None) -> dict:
        return CompletionResponse(
            id=response_id,
            created=created,
            model=label,
            system_fingerprint=runtime.fingerprint,
            choices=[CompletionChoice(text=piece or "", finish_reason=reason)],
        ).model_dump(mode="json", exclude_none=False)

    def usage_chunk(usage: Usage) -> dict:
        return CompletionResponse(
            id=response_id, created=created, model=label, system_fingerprint=runtime.fingerprint, choices=[], usage=usage
        ).model_dump(mode="json")

    return _streamed(stream, chunk, usage_chunk, include_usage)


def chat_events(runtime: Runtime, stream: GenerationStream, response_id: str, created: int, label: str, include_usage: bool):
    def chunk_of(delta: ChatDelta, reason: str | None) -> dict:
        return ChatCompletionChunk(
            id=response_id,
            created=created,
            model=label,
            system_fingerprint=runtime.fingerprint,
            choices=[ChatChunkChoice(delta=delta, finish_reason=reason)],
        ).model_dump(mode="json", exclude_none=True)

    def chunk(piece: str | None, reason: str | None) -> dict:
        return chunk_of(ChatDelta(content=piece) if piece is not None else ChatDelta(), reason)

    def usage_chunk(usage: Usage) -> dict:
        return ChatCompletionChunk(
            id=response_id, created=created, model=label, system_fingerprint=runtime.fingerprint, choices=[], usage=usage
        ).model_dump(mode="json")

    async def events() -> AsyncIterator[str]:
        yield _sse(chunk_of(ChatDelta(role="assistant", content=""), None))
        async for line in _streamed(stream, chunk, usage_chunk, include_usage):
            yield line

    return events()
