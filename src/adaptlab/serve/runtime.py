"""Everything a running server holds: the registry (and its reads cached for requests), the base model's
identity and tokenizer, and the engine that generates (`--engine`: serve/engines/). `build_runtime` loads
them (the slow part), `close` releases them."""

import logging
from collections import Counter
from dataclasses import dataclass, field

from adaptlab.models import ResolvedModel, load_tokenizer, resolve_model
from adaptlab.registry import Registry, VersionRecord, local_admin
from adaptlab.registry.drift_reference import read_drift_profile
from adaptlab.serve.base_limits import BaseLimits, read_base_limits
from adaptlab.serve.completion_log import CompletionRecorder
from adaptlab.serve.config import ServeConfig
from adaptlab.serve.drift_sampler import DriftMonitor
from adaptlab.serve.engines import get_engine_class
from adaptlab.serve.engines.base import Engine, EngineContext
from adaptlab.serve.errors import ServeError
from adaptlab.serve.metrics import ServeMetrics
from adaptlab.serve.resolution import SERVER_PRINCIPAL, CachedRegistry, servable_refusal
from adaptlab.serve.tracing import RequestTracer

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    config: ServeConfig
    registry: Registry
    cached_registry: CachedRegistry
    base: ResolvedModel
    tokenizer: object
    engine: Engine
    metrics: ServeMetrics
    limits: BaseLimits
    drift: DriftMonitor
    tracer: RequestTracer
    merged: VersionRecord | None = None
    completions: CompletionRecorder | None = None  # None when `record_completions` is off
    in_flight: Counter = field(default_factory=Counter)  # tenant ("" for all) -> requests being answered

    @property
    def base_name(self) -> str:
        return self.config.model

    @property
    def fingerprint(self) -> str:
        return "base-" + self.base.weights_sha256[:16]

    @property
    def stop_token_ids(self) -> frozenset[int]:
        return self.limits.stop_token_ids

    @property
    def max_context_tokens(self) -> int:
        return self.limits.max_context_tokens

    def close(self) -> None:
        self.engine.close()
        if self.completions is not None:
            self.completions.close()
        self.drift.stop()
        self.tracer.shutdown()
        self.registry.close()


def fetch_version(registry: Registry, version_ref: str):
    """A verified local copy of a registered version, read with the server's own (administrator) rights;
    tenancy is checked per request before a ref ever gets here."""
    return registry.checkout(local_admin(SERVER_PRINCIPAL), version_ref).local_path


def engine_context(config: ServeConfig, registry: Registry, metrics: ServeMetrics) -> tuple[EngineContext, VersionRecord | None]:
    """(what the configured engine is built from, the version `--merge` names if any): the base, the verified
    copies of pinned and merged versions, each checked for being servable here first."""
    base = resolve_model(config.model)
    merged = None
    if config.merge:
        merged = registry.get_version(local_admin(SERVER_PRINCIPAL), config.merge)
        if refusal := servable_refusal(merged, base, allow_unapproved=config.allow_unapproved):
            raise ServeError(refusal.status, f"--merge {config.merge}: {refusal}", code=refusal.code)
        log.info("serving %s merged into %s", merged.ref, base.model_id)
    context = EngineContext(
        config=config,
        base=base,
        tokenizer=load_tokenizer(base.path),
        metrics=metrics,
        fetch=lambda ref: fetch_version(registry, ref),
        pinned=tuple(registry.get_version(local_admin(SERVER_PRINCIPAL), ref).ref for ref in config.pin),
        merged=merged.ref if merged else None,
    )
    return context, merged


def build_runtime(config: ServeConfig) -> Runtime:
    """Open the registry, resolve the base, build and start the engine (`--engine`), the drift monitor and the completion log."""
    if config.torch_threads is not None:
        import torch

        torch.set_num_threads(config.torch_threads)
    registry = Registry.open(config.registry, db=config.db, blobs=config.blobs)
    completions = engine = None
    try:
        metrics = ServeMetrics()
        context, merged = engine_context(config, registry, metrics)
        completions = _completion_recorder(config, metrics)
        engine = get_engine_class(config.engine)(context)
        engine.start()
        drift = DriftMonitor(config, metrics, lambda ref: read_drift_profile(registry.blobs, registry.get_version(local_admin(SERVER_PRINCIPAL), ref)))
        drift.start()
    except BaseException:
        if engine is not None:
            engine.close()
        if completions is not None:
            completions.close()
        registry.close()
        raise
    return Runtime(
        config=config,
        registry=registry,
        cached_registry=CachedRegistry(registry, alias_ttl_s=config.alias_ttl_s),
        base=context.base,
        tokenizer=context.tokenizer,
        engine=engine,
        metrics=metrics,
        limits=read_base_limits(context.base.path, context.tokenizer, config),
        drift=drift,
        tracer=RequestTracer(capture_content=config.trace_content),
        merged=merged,
        completions=completions,
    )


def _completion_recorder(config: ServeConfig, metrics: ServeMetrics) -> CompletionRecorder | None:
    """The background writer of completion records, on a registry connection pool of its own (closed with it)."""
    if not config.record_completions:
        return None
    recorder = CompletionRecorder(
        Registry.open(config.registry, db=config.db, blobs=config.blobs),
        metrics.registry,
        capacity=config.completion_queue_size,
        record_text=config.record_text,
    )
    recorder.start()
    return recorder
