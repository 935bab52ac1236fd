"""Adapters loaded into the one base model on first use and evicted least-recently-used when their
weights exceed a memory budget; pinned adapters stay. Used only from the scheduler's thread."""

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

from adaptlab.errors import AdaptlabError
from adaptlab.models import ResolvedModel
from adaptlab.serve.engines.adapter_checks import checked_lora_adapter
from adaptlab.serve.engines.batching.mixed_lora import LoraKernel, MixedLora
from adaptlab.serve.metrics import ServeMetrics

log = logging.getLogger(__name__)


class AdapterCache:
    """Owns the served model, which stays the plain base: `lora` applies the loaded adapters per batch row.

    `fetch(version_ref)` returns a verified local copy of a registered version's folder.
    """

    def __init__(
        self, base_model, base: ResolvedModel, capacity_bytes: int, metrics: ServeMetrics, fetch: Callable[[str], Path],
        lora_kernel: LoraKernel = "gathered",
    ):
        self.model = base_model
        self.lora = MixedLora(base_model, lora_kernel)
        self.base = base
        self.capacity_bytes = capacity_bytes
        self.metrics = metrics
        self.fetch = fetch
        self.loaded_bytes: OrderedDict[str, int] = OrderedDict()  # version ref -> bytes, least recently used first
        self.pinned: set[str] = set()

    @property
    def total_bytes(self) -> int:
        return sum(self.loaded_bytes.values())

    def pin(self, version_ref: str, keep: Iterable[str] = ()) -> None:
        """Load now and never evict (nor evict those in `keep` to make room); raises what loading raised."""
        for failure in self.ensure([version_ref], keep).values():
            raise failure
        self.pinned.add(version_ref)

    def unpin(self, version_ref: str) -> None:
        """Evictable again: it goes when the budget next needs the room (never while a running row uses it)."""
        self.pinned.discard(version_ref)

    def ensure(self, version_refs: Iterable[str], keep: Iterable[str] = ()) -> dict[str, AdaptlabError]:
        """Load what is missing, mark all as just used, then evict others (never those in `keep`) until within budget.

        Returns the refs that could not be loaded and why. The adapters named here are never evicted
        by this call, so a batch that needs more than the budget still runs (over budget until the next call)."""
        wanted = list(dict.fromkeys(version_refs))
        failures: dict[str, AdaptlabError] = {}
        for ref in wanted:
            if ref in self.loaded_bytes:
                self.loaded_bytes.move_to_end(ref)
                self.metrics.cache_events.labels(ref, "hit").inc()
                continue
            self.metrics.cache_events.labels(ref, "miss").inc()
            try:
                self._load(ref)
            except AdaptlabError as exc:
                failures[ref] = exc
        self._evict(keep=set(wanted) | set(keep))
        self.metrics.cache_bytes.set(self.total_bytes)
        return failures

    def _load(self, version_ref: str) -> None:
        started = time.perf_counter()
        adapter = checked_lora_adapter(self.fetch(version_ref), version_ref, self.base, self.lora.modules)
        self.lora.add(version_ref, adapter)
        self.loaded_bytes[version_ref] = adapter.nbytes
        seconds = time.perf_counter() - started
        self.metrics.adapter_load_time.labels(version_ref).observe(seconds)
        log.info("loaded %s (%d bytes) in %.3f s", version_ref, adapter.nbytes, seconds)

    def _evict(self, keep: set[str]) -> None:
        for ref in list(self.loaded_bytes):
            if self.total_bytes <= self.capacity_bytes:
                return
            if ref in keep or ref in self.pinned:
                continue
            self.lora.remove(ref)
            del self.loaded_bytes[ref]
            self.metrics.cache_events.labels(ref, "eviction").inc()
            log.info("evicted %s", ref)

