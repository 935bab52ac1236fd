"""Drift monitoring of live prompts, one rolling window per served version, kept off the decoding thread.

A request's prompt is offered with probability `drift_sample_rate` into a bounded queue (full: the prompt
is dropped and counted, never waited for). One background thread embeds queued prompts with the sentence
encoder (models/encoder.py) into the window of the version that answered, and every `drift_every_prompts`
new prompts tests the window against the version's registered reference profile (stats/drift.py), updating
the `adaptlab_drift_*` gauges. The thread holds itself to `drift_cpu_share` of the time: after each busy
spell of t seconds it sleeps t * (1 / share - 1). Versions registered without a profile are not embedded.
Prompt text stays in memory only with `keep_prompt_text` (for the clusters of `adaptlab monitor drift`)."""

import logging
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from adaptlab.data.prompt_profile import PromptProfile
from adaptlab.errors import ModelLoadError
from adaptlab.models.encoder import load_sentence_encoder
from adaptlab.serve.config import ServeConfig
from adaptlab.serve.drift_report import DriftFigures, DriftReport, cluster_views, measure, reference_summary
from adaptlab.serve.metrics import ServeMetrics
from adaptlab.stats.drift import MIN_PROMPTS_PER_GROUP

log = logging.getLogger(__name__)

EMBED_BATCH_PROMPTS = 16
IDLE_POLL_S = 0.2


@dataclass(frozen=True)
class LiveSample:
    sample_id: int
    length_chars: int
    text: str | None
    embedding: np.ndarray


@dataclass
class VersionWindow:
    reference: PromptProfile | None
    reference_problem: str | None  # why this version's prompts cannot be tested (None: they can)
    samples: deque
    new_since_test: int = 0


@dataclass(frozen=True)
class WindowCopy:
    reference: PromptProfile
    embeddings: np.ndarray
    lengths: list[int]
    sample_ids: list[int]
    texts: list[str | None]


class DriftMonitor:
    """`offer` prompts from the event loop, `report` from a request thread; `start`/`stop` the embedding thread."""

    def __init__(
        self,
        config: ServeConfig,
        metrics: ServeMetrics,
        load_reference: Callable[[str], PromptProfile | None],
    ):
        self.config = config
        self.metrics = metrics
        self.load_reference = load_reference  # version ref -> its profile (None: registered without one)
        self.windows: dict[str, VersionWindow] = {}
        self.encoder_problem: str | None = None
        self.pending: queue.Queue = queue.Queue(maxsize=config.drift_queue_prompts)
        self.rng = random.Random()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.next_sample_id = 0
        self.thread = threading.Thread(target=self._run, name="adaptlab-drift", daemon=True)

    @property
    def enabled(self) -> bool:
        return self.config.drift_sample_rate > 0

    def start(self) -> None:
        if self.enabled:
            self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=30)

    def offer(self, version: str, prompt: str) -> None:
        """Called on the event loop for each answered prompt: O(1), never blocks."""
        if not self.enabled or self.rng.random() >= self.config.drift_sample_rate:
            return
        try:
            self.pending.put_nowait((version, prompt))
        except queue.Full:
            self.metrics.drift_dropped.labels(version).inc()

    def report(self, asked: str, version: str) -> DriftReport:
        """The window of `version` tested now (on the caller's thread) with its clusters."""
        window = self._window(version)
        with self.lock:
            size = len(window.samples)
        common = {
            "model": asked,
            "version": version,
            "sample_rate": self.config.drift_sample_rate,
            "window_prompts": size,
            "window_capacity": self.config.drift_window_prompts,
            "min_prompts": self.config.drift_min_prompts,
            "prompt_text_kept": self.config.keep_prompt_text,
            "reference": reference_summary(window.reference) if window.reference else None,
            "figures": None,
            "clusters": [],
        }
        if window.reference_problem:
            return DriftReport(status="no_reference", detail=window.reference_problem, **common)
        if self.encoder_problem:
            return DriftReport(status="encoder_unavailable", detail=self.encoder_problem, **common)
        if size < self.config.drift_min_prompts:
            detail = f"{size} of the {self.config.drift_min_prompts} sampled prompts needed before drift is tested"
            return DriftReport(status="collecting", detail=detail, **common)
        copy = self._copy(version)
        figures = self._test(version, copy)
        clusters = cluster_views(copy.reference, copy.embeddings, copy.sample_ids, copy.lengths, copy.texts)
        verdict = "drifted" if figures.embedding.drifted else "no drift"
        detail = f"{verdict}: ROC AUC {figures.embedding.roc_auc:.3f} vs threshold {figures.embedding.threshold}"
        return DriftReport(status="measured", detail=detail, **{**common, "figures": figures, "clusters": clusters})

    def _run(self) -> None:
        while not self.stopping.is_set():
            batch = self._next_batch()
            if not batch:
                continue
            started = time.perf_counter()
            try:
                self._absorb(batch)
            except Exception:  # one bad batch must not end monitoring for every version
                log.exception("drift monitoring: a batch of %d prompts failed", len(batch))
            busy_s = time.perf_counter() - started
            self.stopping.wait(busy_s * (1 / self.config.drift_cpu_share - 1))

    def _next_batch(self) -> list[tuple[str, str]]:
        try:
            batch = [self.pending.get(timeout=IDLE_POLL_S)]
        except queue.Empty:
            return []
        while len(batch) < EMBED_BATCH_PROMPTS:
            try:
                batch.append(self.pending.get_nowait())
            except queue.Empty:
                break
        return batch

    def _absorb(self, batch: list[tuple[str, str]]) -> None:
        by_version: dict[str, list[str]] = {}
        for version, prompt in batch:
            by_version.setdefault(version, []).append(prompt)
        for version, prompts in by_version.items():
            window = self._window(version)
            if window.reference_problem or self.encoder_problem:
                continue
            embeddings = self._encoder_embed(prompts)
            if embeddings is None:
                return
            with self.lock:
                for prompt, embedding in zip(prompts, embeddings):
                    text = prompt if self.config.keep_prompt_text else None
                    window.samples.append(LiveSample(self.next_sample_id, len(prompt), text, embedding))
                    self.next_sample_id += 1
                window.new_since_test += len(prompts)
                due = window.new_since_test >= self.config.drift_every_prompts and len(window.samples) >= self.config.drift_min_prompts
            self.metrics.drift_window.labels(version).set(len(window.samples))
            self.metrics.drift_embedded.labels(version).inc(len(prompts))
            if due:
                self._test(version, self._copy(version))

    def _encoder_embed(self, prompts: list[str]) -> np.ndarray | None:
        try:
            return load_sentence_encoder().embed(prompts)
        except ModelLoadError as exc:
            self.encoder_problem = str(exc)
            log.warning("drift monitoring is off: %s", exc)
            return None

    def _window(self, version: str) -> VersionWindow:
        with self.lock:
            if version not in self.windows:
                reference = self.load_reference(version)
                problem = _reference_problem(version, reference)
                self.windows[version] = VersionWindow(reference, problem, deque(maxlen=self.config.drift_window_prompts))
            return self.windows[version]

    def _copy(self, version: str) -> WindowCopy:
        with self.lock:
            window = self.windows[version]
            samples = list(window.samples)
            window.new_since_test = 0
        return WindowCopy(
            reference=window.reference,
            embeddings=np.stack([sample.embedding for sample in samples]),
            lengths=[sample.length_chars for sample in samples],
            sample_ids=[sample.sample_id for sample in samples],
            texts=[sample.text for sample in samples],
        )

    def _test(self, version: str, copy: WindowCopy) -> DriftFigures:
        figures = measure(copy.reference, copy.embeddings, np.array(copy.lengths), self.config.drift_threshold)
        self.metrics.drift_score.labels(version).set(figures.embedding.roc_auc)
        self.metrics.drift_threshold.labels(version).set(figures.embedding.threshold)
        self.metrics.drift_window.labels(version).set(len(copy.lengths))
        self.metrics.drift_length_p_value.labels(version).set(figures.length.p_value)
        self.metrics.drift_computed.labels(version).set(time.time())
        self.metrics.drift_tests.labels(version).inc()
        return figures


def _reference_problem(version: str, reference: PromptProfile | None) -> str | None:
    if reference is None:
        return f"{version} was registered without a drift reference profile (register with --drift-profile-prompts)"
    if reference.embedded_prompts < MIN_PROMPTS_PER_GROUP:
        return f"{version}'s reference profile embeds {reference.embedded_prompts} prompts; the drift test needs {MIN_PROMPTS_PER_GROUP}"
    return None
