"""The batching scheduler: one thread owns the model and decodes up to `max_batch_size` requests
together, one token per forward pass. Waiting requests join the running batch between steps (after
their adapters are loaded and their prompts prefilled); an idle scheduler waits up to `max_wait_s`
after the first request for others to arrive."""

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from adaptlab.serve.engines.base import Event, Failed, Finished, GenerationRequest, Started, Token
from adaptlab.serve.engines.batching.adapter_cache import AdapterCache
from adaptlab.serve.engines.batching.decoding import DecodeRow, RunningBatch
from adaptlab.serve.errors import ServeError
from adaptlab.serve.metrics import ServeMetrics

log = logging.getLogger(__name__)
IDLE_POLL_S = 0.1


@dataclass(frozen=True, kw_only=True)
class Job(GenerationRequest):
    """A request for the scheduler: `on_event` is called on the scheduler's thread with each of its events."""

    on_event: Callable[[Event], None]
    submitted_at: float = field(default_factory=time.perf_counter)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def row(self) -> DecodeRow:
        return DecodeRow(
            prompt_ids=self.prompt_ids,
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
            stop_token_ids=self.stop_token_ids,
            emit_token=lambda token_id: self.on_event(Token(token_id)),
            finish=lambda reason: self.on_event(Finished(reason)),
            fail=lambda error: self.on_event(Failed(error)),
            is_cancelled=self.cancelled.is_set,
        )


class Scheduler:
    def __init__(self, cache: AdapterCache, metrics: ServeMetrics, *, max_batch_size: int, max_wait_s: float, pad_token_id: int):
        self.cache = cache
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.pad_token_id = pad_token_id
        self._waiting: queue.Queue[Job] = queue.Queue()
        self._calls: queue.Queue[tuple[Callable[[list[str]], object], Future]] = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="adaptlab-scheduler", daemon=True)

    @property
    def is_running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)

    def submit(self, job: Job) -> None:
        if self._stopping.is_set():
            raise ServeError(503, "the server is shutting down; retry on another replica", code="shutting_down")
        self._waiting.put(job)

    def call(self, operation: Callable[[list[str]], object]) -> Future:
        """Run `operation(adapters the running batch uses)` on the scheduler's thread between two steps (it owns
        the model and the adapter cache)."""
        done: Future = Future()
        self._calls.put((operation, done))
        return done

    def _run(self) -> None:
        batch = RunningBatch(self.pad_token_id)
        while not self._stopping.is_set():
            self._run_calls(batch)
            joining = self._collect(batch)
            try:
                if joining:
                    self._admit(batch, joining)
                if len(batch):
                    self.metrics.batch_size.observe(len(batch))
                    batch.step(self.cache.model, self.cache.lora.routed)
            except Exception as exc:  # a bug, a lost database or an out-of-memory fails these requests, not the server
                log.exception("decoding a batch of %d failed", len(batch))
                for job in joining:
                    job.on_event(Failed(exc))
                batch.fail_all(exc)
        batch.fail_all(ServeError(503, "the server shut down while this request ran", code="shutting_down"))
        while not self._waiting.empty():
            self._waiting.get_nowait().on_event(
                Failed(ServeError(503, "the server shut down before this request ran", code="shutting_down"))
            )

    def _run_calls(self, batch: RunningBatch) -> None:
        while not self._calls.empty():
            operation, done = self._calls.get_nowait()
            try:
                done.set_result(operation([ref for ref in batch.routing if ref is not None]))
            except Exception as exc:  # the caller's to handle
                done.set_exception(exc)

    def _collect(self, batch: RunningBatch) -> list[Job]:
        """Waiting requests that fit in the batch: if it is idle, block for one and then wait `max_wait_s` for more."""
        free = self.max_batch_size - len(batch)
        if len(batch) and (not batch.can_join or free <= 0):
            return []
        jobs: list[Job] = []
        if not len(batch):
            try:
                jobs.append(self._waiting.get(timeout=IDLE_POLL_S))
            except queue.Empty:
                return []
            deadline = time.perf_counter() + self.max_wait_s
            while len(jobs) < free:
                try:
                    jobs.append(self._waiting.get(timeout=max(0.0, deadline - time.perf_counter())))
                except queue.Empty:
                    break
            return jobs
        while len(jobs) < free:
            try:
                jobs.append(self._waiting.get_nowait())
            except queue.Empty:
                break
        return jobs

    def _admit(self, batch: RunningBatch, jobs: list[Job]) -> None:
        """Load the joining requests' adapters (keeping the running rows'), fail those that cannot load, prefill the rest."""
        adapters = [job.adapter for job in jobs if job.adapter is not None]
        failures = self.cache.ensure(adapters, keep=[ref for ref in batch.routing if ref is not None]) if adapters else {}
        runnable, rows = [], []
        for job in jobs:
            if job.adapter in failures:
                job.on_event(Failed(failures[job.adapter]))
            elif not job.cancelled.is_set():
                try:
                    rows.append(job.row())
                except Exception as exc:  # e.g. a seed torch cannot take fails this request only
                    log.exception("a request could not join the batch")
                    job.on_event(Failed(exc))
                    continue
                runnable.append(job)
        if not runnable:
            return
        started = time.perf_counter()
        for job in runnable:
            job.on_event(Started(started - job.submitted_at))
        batch.add(self.cache.model, rows, [job.adapter for job in runnable], self.cache.lora.routed)
