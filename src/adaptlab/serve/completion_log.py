"""The server's record of each answered completion (registry.feedback), kept off the request path:
`record` puts it on a bounded queue and returns at once; one background thread writes what has queued
up (for at most 0.1 s, at most 256 records) in one transaction per batch, through its own registry
connection pool. A full queue drops the
record and counts it (`adaptlab_serve_completion_records_dropped_total`) rather than slow decoding."""

import json
import logging
import queue
import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter

from adaptlab.registry import Registry, local_admin
from adaptlab.registry.entities import CompletionRecord
from adaptlab.registry.store import now
from adaptlab.serve.generation import GenerationStream
from adaptlab.serve.resolution import SERVER_PRINCIPAL

log = logging.getLogger(__name__)

BATCH_SIZE = 256
BATCH_WAIT_S = 0.1  # after a batch's first record, how long the writer gathers more: fewer, larger transactions
_STOP = object()


class CompletionRecorder:
    """Start with `start()`, stop with `close()`, which writes what is still queued and closes `registry` (the
    recorder's own: opened for it, so its writes never hold a connection the request path needs)."""

    def __init__(self, registry: Registry, metrics: CollectorRegistry, *, capacity: int, record_text: bool):
        self.registry = registry
        self.record_text = record_text
        self.principal = local_admin(SERVER_PRINCIPAL)
        self.queue: queue.Queue = queue.Queue(capacity)
        self.dropped = Counter(
            "adaptlab_serve_completion_records_dropped", "Completion records dropped: the writer's queue was full", registry=metrics
        )
        self.failed = Counter(
            "adaptlab_serve_completion_records_failed", "Completion records lost to a failed database write (see the log)", registry=metrics
        )
        self.written = Counter("adaptlab_serve_completion_records_written", "Completion records written to the registry", registry=metrics)
        self._pending: set[str] = set()
        self._written = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="adaptlab-completion-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def record(self, record: CompletionRecord) -> None:
        """Queue a record for the writer; never blocks."""
        with self._written:
            self._pending.add(record.id)
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped.inc()
            self._settled([record.id])

    def wait_written(self, completion_id: str, timeout_s: float) -> None:
        """Until the record of `completion_id`, if it is still queued, has been written (or `timeout_s` passed)."""
        with self._written:
            self._written.wait_for(lambda: completion_id not in self._pending, timeout_s)

    def on_done(
        self, *, completion_id: str, tenant: str, version_ref: str | None, model: str, alias: str | None, body
    ) -> Callable[[GenerationStream], None]:
        """The `on_done` of a GenerationStream: records its completion when it was answered or failed (not when the client left)."""

        def done(stream: GenerationStream) -> None:
            outcome = stream.outcome
            if not outcome.answered:
                return
            self.record(
                CompletionRecord(
                    id=completion_id,
                    tenant=tenant,
                    version_ref=version_ref,
                    model=model,
                    via_alias=alias,
                    created_at=now(),
                    prompt_tokens=len(stream.request.prompt_ids),
                    completion_tokens=outcome.completion_tokens,
                    latency_s=outcome.latency_s,
                    first_token_s=outcome.first_token_s,
                    error=outcome.failed,
                    prompt_text=prompt_text(body) if self.record_text else None,
                    completion_text=stream.text.sent if self.record_text else None,
                )
            )

        return done

    def close(self, timeout_s: float = 30) -> None:
        if self._thread.is_alive():
            try:
                self.queue.put(_STOP, timeout=timeout_s)
                self._thread.join(timeout_s)
            except queue.Full:
                log.warning(
                    "completion log: the writer did not drain its queue in %.0f s; %d records not written", timeout_s, self.queue.qsize()
                )
        self.registry.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self.queue.get()]
            deadline = time.monotonic() + BATCH_WAIT_S
            while len(batch) < BATCH_SIZE and batch[-1] is not _STOP:
                try:
                    batch.append(self.queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            stopping = any(item is _STOP for item in batch)
            records = [item for item in batch if item is not _STOP]
            if records:
                self._write(records)

    def _write(self, records: list[CompletionRecord]) -> None:
        try:
            self.written.inc(self.registry.record_completions(self.principal, records))
        except Exception:  # noqa: BLE001 - the writer must outlive a failed write
            log.exception("completion log: writing %d records failed", len(records))
            self.failed.inc(len(records))
        finally:
            self._settled([record.id for record in records])

    def _settled(self, completion_ids: list[str]) -> None:
        with self._written:
            self._pending.difference_update(completion_ids)
            self._written.notify_all()


def prompt_text(body) -> str:
    """The request's prompt as recorded when text recording is on: the completion prompt, or the chat messages as JSON."""
    prompt = getattr(body, "prompt", None)
    return prompt if prompt is not None else json.dumps([message.model_dump() for message in body.messages], ensure_ascii=False)
