"""The Ray Serve engine: `--replicas` copies of the model as a Ray Serve deployment (engines/ray_replica.py),
on the cluster `RAY_ADDRESS` names, or on a local one started here. The gateway calls the deployment
through its handle, routing each request by its adapter (`multiplexed_model_id`) so it lands on a replica
that holds it; events stream back in lists of those ready together. Needs `pip install 'adaptlab[ray-serve]'`."""

import os
from collections.abc import AsyncIterator

from adaptlab.errors import ConfigError
from adaptlab.serve.engines.base import Engine, EngineContext, Event, Failed, GenerationRequest, PortableFailure
from adaptlab.serve.errors import ServeError

APPLICATION_PREFIX = "adaptlab-"


class RayServeEngine(Engine):
    def __init__(self, context: EngineContext):
        try:
            import ray
            from ray import serve
        except ImportError as exc:
            raise ConfigError("--engine ray needs Ray Serve: pip install 'adaptlab[ray-serve]'") from exc
        from adaptlab.serve.engines.ray_replica import replica_class

        config = context.config
        self.started_ray = not ray.is_initialized()
        if self.started_ray:
            # RAY_ADDRESS set: join that cluster; unset: start a local one for this process.
            ray.init(**({} if os.environ.get("RAY_ADDRESS") else {"include_dashboard": False}), log_to_driver=False)
        serve.start(proxy_location="Disabled")
        self.application = APPLICATION_PREFIX + context.base.weights_sha256[:12]
        deployment = serve.deployment(
            replica_class(config.ray_adapters_per_replica),
            name="model",
            num_replicas=config.replicas,
            max_ongoing_requests=config.max_concurrent_requests,
            ray_actor_options={"num_cpus": config.ray_replica_cpus},
        )
        self.handle = serve.run(deployment.bind(config, context.pinned, context.merged), name=self.application, route_prefix=None)
        self.replicas = config.replicas
        self._running = True

    def start(self) -> None:
        """The deployment runs once `serve.run` returned (every replica has loaded the model)."""

    def close(self) -> None:
        import ray
        from ray import serve

        if not self._running:
            return
        self._running = False
        serve.delete(self.application)
        if self.started_ray:
            serve.shutdown()
            ray.shutdown()

    @property
    def is_ready(self) -> bool:
        return self._running

    def describe(self) -> str:
        return f"Ray Serve: {self.replicas} replica(s) of the model, requests routed by adapter"

    async def load_adapter(self, version_ref: str) -> None:
        """Loads it on one replica (the one Ray picks for it); the others load it when a request needs them to."""
        await self.handle.options(multiplexed_model_id=version_ref).resident_adapter.remote(version_ref)

    async def unload_adapter(self, version_ref: str) -> None:
        """Nothing to do: each replica lets its least recently used adapter go when it needs the slot."""

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Event]:
        from ray.exceptions import RayError
        from ray.serve.exceptions import RayServeException

        responses = self.handle.options(stream=True, multiplexed_model_id=request.adapter or "").generate.remote(request)
        try:
            async for events in responses:
                for event in events:
                    yield Failed(event.error()) if isinstance(event, PortableFailure) else event
        except (RayError, RayServeException) as exc:
            yield Failed(ServeError(503, f"the Ray Serve engine failed: {type(exc).__name__}", code="engine_unavailable"))
        finally:
            responses.cancel()
