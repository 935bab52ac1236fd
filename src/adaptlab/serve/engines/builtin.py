"""The default engine: the base model in this process, decoded by the batching scheduler with each row's
LoRA applied per row (engines/batching/). Adapters load on first use, inside the scheduler's thread."""

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import Future
from dataclasses import fields
from pathlib import Path

from adaptlab.adapters import compat
from adaptlab.adapters.files import open_adapter_folder
from adaptlab.adapters.loading import attach_adapters
from adaptlab.models import ResolvedModel, load_causal_lm
from adaptlab.serve.engines.base import Engine, EngineContext, Event, Failed, Finished, GenerationRequest
from adaptlab.serve.engines.batching.adapter_cache import AdapterCache
from adaptlab.serve.engines.batching.scheduler import Job, Scheduler

log = logging.getLogger(__name__)


class BuiltinEngine(Engine):
    def __init__(self, context: EngineContext):
        config, tokenizer = context.config, context.tokenizer
        model = load_causal_lm(context.base.path)
        model.eval()
        if context.merged is not None:
            model = merged_model(model, context.base, context.fetch(context.merged))
        self.cache = AdapterCache(model, context.base, config.cache_bytes, context.metrics, context.fetch, config.lora_kernel)
        for ref in context.pinned:
            self.cache.pin(ref)
        self.always_pinned = frozenset(context.pinned)  # --pin: stays whatever unload_adapter is asked
        pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.scheduler = Scheduler(
            self.cache, context.metrics, max_batch_size=config.max_batch_size, max_wait_s=config.max_wait_ms / 1000, pad_token_id=pad_token_id
        )
        self.config = config

    def start(self) -> None:
        self.scheduler.start()

    def close(self) -> None:
        self.scheduler.stop()

    @property
    def is_ready(self) -> bool:
        return self.scheduler.is_running

    def describe(self) -> str:
        return f"built-in: batches of up to {self.config.max_batch_size} requests, waiting ≤ {self.config.max_wait_ms:g} ms"

    async def load_adapter(self, version_ref: str) -> None:
        await asyncio.wrap_future(self.scheduler.call(lambda in_use: self.cache.pin(version_ref, keep=in_use)))

    async def unload_adapter(self, version_ref: str) -> None:
        await asyncio.wrap_future(self.release(version_ref))

    def release(self, version_ref: str) -> Future:
        """Unpin from any thread (without waiting): the cache evicts it when it needs the room (never a --pin one)."""
        return self.scheduler.call(lambda _in_use: None if version_ref in self.always_pinned else self.cache.unpin(version_ref))

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Event] = asyncio.Queue()

        def on_event(event: Event) -> None:  # on the scheduler's thread
            loop.call_soon_threadsafe(events.put_nowait, event)

        job = Job(**{field.name: getattr(request, field.name) for field in fields(request)}, on_event=on_event)
        self.scheduler.submit(job)
        try:
            while True:
                event = await events.get()
                yield event
                if isinstance(event, (Finished, Failed)):
                    return
        finally:
            job.cancelled.set()  # a stream closed early frees its batch row at the next step


def merged_model(model, base: ResolvedModel, adapter_path: Path):
    """The base with the adapter's delta folded into its weights by PEFT. Any adapter PEFT can merge works
    here (DoRA too), unlike per-row serving."""
    folder = open_adapter_folder(adapter_path)
    compat.check_mergeable(folder)
    merged = attach_adapters(model, base, [folder]).merge_and_unload()
    merged.eval()
    return merged
