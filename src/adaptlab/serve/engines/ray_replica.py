"""One Ray Serve replica of the model: a built-in engine (the base, batching, per-row LoRA) in a Ray
worker, with its own registry connection for verified copies. `@serve.multiplexed` keeps the adapters
a replica holds (`--ray-adapters-per-replica`, least recently used go first) and tells Ray's router, which
sends a request to a replica that holds its adapter, and loads it lazily elsewhere. Imported only in
Ray's processes and by engines/ray_serve.py: it needs `ray[serve]`."""

import asyncio
from collections.abc import AsyncIterator

from ray import serve

from adaptlab.errors import AdaptlabError
from adaptlab.models import load_tokenizer, resolve_model
from adaptlab.registry import Registry
from adaptlab.serve.config import ServeConfig
from adaptlab.serve.engines.base import EngineContext, Event, Failed, Finished, GenerationRequest, PortableFailure
from adaptlab.serve.engines.builtin import BuiltinEngine
from adaptlab.serve.metrics import ServeMetrics
from adaptlab.serve.runtime import fetch_version


class ResidentAdapter:
    """An adapter a replica holds; Ray's multiplexer calls `__del__` when it evicts it (the cache unpins it)."""

    def __init__(self, engine: BuiltinEngine, version_ref: str):
        self.engine = engine
        self.version_ref = version_ref

    def __del__(self) -> None:
        self.engine.release(self.version_ref)


class ModelReplica:
    """The deployment's class (see replica_class): built in a Ray worker from the gateway's config."""

    def __init__(self, config: ServeConfig, pinned: tuple[str, ...], merged_ref: str | None):
        if config.torch_threads is not None:
            import torch

            torch.set_num_threads(config.torch_threads)
        self.registry = Registry.open(config.registry, db=config.db, blobs=config.blobs)
        base = resolve_model(config.model)
        context = EngineContext(
            config=config,
            base=base,
            tokenizer=load_tokenizer(base.path),
            metrics=ServeMetrics(),
            fetch=lambda ref: fetch_version(self.registry, ref),
            pinned=pinned,
            merged=merged_ref,
        )
        self.engine = BuiltinEngine(context)
        self.engine.start()

    async def generate(self, request: GenerationRequest) -> AsyncIterator[list[object]]:
        """The request's engine events, in lists of those that are ready together (one item of Ray's stream
        costs more than a token); a Failed one as a PortableFailure (our exceptions do not pickle)."""
        if request.adapter is not None:
            try:
                await self.resident_adapter(request.adapter)
            except AdaptlabError as exc:
                yield [PortableFailure.of(exc)]
                return
        ready: asyncio.Queue = asyncio.Queue()
        pump = asyncio.create_task(_pump(self.engine.stream(request), ready))
        try:
            while True:
                events = [await ready.get()]
                while not ready.empty():
                    events.append(ready.get_nowait())
                yield [PortableFailure.of(event.error) if isinstance(event, Failed) else event for event in events]
                if isinstance(events[-1], (Finished, Failed)):
                    return
        finally:
            pump.cancel()  # a request left early: the engine's stream closes, its batch row is freed

    async def resident_adapter(self, version_ref: str) -> ResidentAdapter:
        """The adapter loaded on this replica's engine (replica_class puts Ray's bounded multiplexed cache in front)."""
        await self.engine.load_adapter(version_ref)
        return ResidentAdapter(self.engine, version_ref)

    def __del__(self) -> None:
        self.engine.close()
        self.registry.close()


async def _pump(events: AsyncIterator[Event], ready: asyncio.Queue) -> None:
    try:
        async for event in events:
            ready.put_nowait(event)
    except Exception as exc:  # e.g. the replica shutting down: this request fails, and says so
        ready.put_nowait(Failed(exc))


def replica_class(adapters_per_replica: int) -> type[ModelReplica]:
    """ModelReplica whose adapter loader keeps at most `adapters_per_replica` adapters (Ray's decorator takes the
    bound when the class is made)."""

    class AdaptlabModelReplica(ModelReplica):
        @serve.multiplexed(max_num_models_per_replica=adapters_per_replica)
        async def resident_adapter(self, version_ref: str) -> ResidentAdapter:
            return await super().resident_adapter(version_ref)

    return AdaptlabModelReplica
