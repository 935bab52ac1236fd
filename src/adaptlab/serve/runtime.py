"""Everything a running server holds: the registry (and its reads cached for requests), the base model
and tokenizer, the adapter cache and the scheduler. `build_runtime` loads them (the slow part), `close` releases them."""

import logging
from collections import Counter
from dataclasses import dataclass, field

from adaptlab.adapters import compat
from adaptlab.adapters.files import open_adapter_folder
from adaptlab.adapters.loading import attach_adapters
from adaptlab.models import ResolvedModel, load_causal_lm, load_tokenizer, resolve_model
from adaptlab.registry import Registry, VersionRecord, local_admin
from adaptlab.registry.drift_reference import read_drift_profile
from adaptlab.serve.adapter_cache import AdapterCache
from adaptlab.serve.completion_log import CompletionRecorder
from adaptlab.serve.config import ServeConfig
from adaptlab.serve.drift_sampler import DriftMonitor
from adaptlab.serve.errors import ServeError
from adaptlab.serve.metrics import ServeMetrics
from adaptlab.serve.resolution import SERVER_PRINCIPAL, CachedRegistry, servable_refusal
from adaptlab.serve.scheduler import Scheduler
from adaptlab.serve.tracing import RequestTracer

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    config: ServeConfig
    registry: Registry
    cached_registry: CachedRegistry
    base: ResolvedModel
    tokenizer: object
    cache: AdapterCache
    scheduler: Scheduler
    metrics: ServeMetrics
    stop_token_ids: frozenset[int]
    max_context_tokens: int
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

    def close(self) -> None:
        self.scheduler.stop()
        if self.completions is not None:
            self.completions.close()
        self.drift.stop()
        self.tracer.shutdown()
        self.registry.close()


def fetch_version(registry: Registry, version_ref: str):
    """A verified local copy of a registered version, read with the server's own (administrator) rights;
    tenancy is checked per request before a ref ever gets here."""
    return registry.checkout(local_admin(SERVER_PRINCIPAL), version_ref).local_path


def build_runtime(config: ServeConfig) -> Runtime:
    """Open the registry, load the base (merged with `config.merge` if given), pin adapters, start the scheduler."""
    if config.torch_threads is not None:
        import torch

        torch.set_num_threads(config.torch_threads)
    registry = Registry.open(config.registry, db=config.db, blobs=config.blobs)
    completions = None
    try:
        base = resolve_model(config.model)
        model = load_causal_lm(base.path)
        model.eval()
        tokenizer = load_tokenizer(base.path)
        metrics = ServeMetrics()
        merged = None
        if config.merge:
            merged, model = _merged_model(registry, base, model, config.merge, config.allow_unapproved)
        cache = AdapterCache(model, base, config.cache_bytes, metrics, lambda ref: fetch_version(registry, ref), config.lora_kernel)
        for ref in config.pin:
            cache.pin(registry.get_version(local_admin(SERVER_PRINCIPAL), ref).ref)
        pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        completions = _completion_recorder(config, metrics)
        scheduler = Scheduler(
            cache, metrics, max_batch_size=config.max_batch_size, max_wait_s=config.max_wait_ms / 1000, pad_token_id=pad_token_id
        )
        scheduler.start()
        drift = DriftMonitor(config, metrics, lambda ref: read_drift_profile(registry.blobs, registry.get_version(local_admin(SERVER_PRINCIPAL), ref)))
        drift.start()
    except BaseException:
        if completions is not None:
            completions.close()
        registry.close()
        raise
    return Runtime(
        config=config,
        registry=registry,
        cached_registry=CachedRegistry(registry, alias_ttl_s=config.alias_ttl_s),
        base=base,
        tokenizer=tokenizer,
        cache=cache,
        scheduler=scheduler,
        metrics=metrics,
        stop_token_ids=_stop_token_ids(tokenizer, model),
        max_context_tokens=int(getattr(model.config, "max_position_embeddings", 0) or config.max_prompt_tokens + config.max_tokens_limit),
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


def _merged_model(registry: Registry, base: ResolvedModel, model, ref: str, allow_unapproved: bool):
    """(version, base with that adapter merged in by PEFT): the adapter's delta folded into the weights.
    Any adapter PEFT can merge works here (DoRA too), unlike per-row serving."""
    record = registry.get_version(local_admin(SERVER_PRINCIPAL), ref)
    if refusal := servable_refusal(record, base, allow_unapproved=allow_unapproved):
        raise ServeError(refusal.status, f"--merge {ref}: {refusal}", code=refusal.code)
    folder = open_adapter_folder(fetch_version(registry, record.ref))
    compat.check_mergeable(folder)
    merged = attach_adapters(model, base, [folder]).merge_and_unload()
    merged.eval()
    log.info("serving %s merged into %s", record.ref, base.model_id)
    return record, merged


def _stop_token_ids(tokenizer, model) -> frozenset[int]:
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return frozenset(i for i in ids if i is not None)
