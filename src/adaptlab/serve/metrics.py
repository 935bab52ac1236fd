"""Prometheus metrics labelled per adapter; one CollectorRegistry per server so several can run in a process.

Only the three that are OpenTelemetry GenAI server metrics carry `gen_ai_server_*` names
(gen_ai.server.request.duration, .time_to_first_token, .time_per_output_token); the rest are
`adaptlab_serve_*`, since OTel has no server-side equivalent (its token usage is a client metric).
Drift monitoring's are `adaptlab_drift_*`, labelled `model` (the version ref) as the alert rules expect."""

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
TOKEN_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
UNRESOLVED_ADAPTER = "unresolved"  # label for requests refused before a model was resolved (keeps label values bounded)


class ServeMetrics:
    """The server's instruments; `adapter` labels are version refs (tenant/name@vN) or the base's name."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("adaptlab_serve_requests", "Requests answered, by status code", ["adapter", "status_code"], registry=r)
        self.errors = Counter(
            "adaptlab_serve_request_errors", "Requests answered with an error, by error type", ["adapter", "error_type"], registry=r
        )
        self.request_duration = Histogram(
            "gen_ai_server_request_duration_seconds",
            "Time from HTTP arrival to the last token",
            ["adapter"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.queue_time = Histogram(
            "adaptlab_serve_request_queue_seconds",
            "Time a request waited in the scheduler's queue until its batch started",
            ["adapter"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.time_to_first_token = Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time from HTTP arrival to the first generated token",
            ["adapter"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.time_per_output_token = Histogram(
            "gen_ai_server_time_per_output_token_seconds",
            "Inter-token latency after the first token",
            ["adapter"],
            buckets=TOKEN_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.canary_requests = Counter(
            "adaptlab_canary_requests",
            "Requests to an alias with a canary, by the arm that answered (candidate or stable) and status code",
            ["model", "arm", "status_code"],
            registry=r,
        )
        self.feedback = Counter(
            "adaptlab_feedback",
            "Ratings received, by the version that answered; score is positive (above 0.5) or negative (the rest)",
            ["model", "score"],
            registry=r,
        )
        self.tokens = Counter(
            "adaptlab_serve_tokens",
            "Tokens processed, by gen_ai_token_type (input or output)",
            ["adapter", "gen_ai_token_type"],
            registry=r,
        )
        self.adapter_load_time = Histogram(
            "adaptlab_serve_adapter_load_seconds",
            "Time to load an adapter into the base model",
            ["adapter"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.cache_events = Counter(
            "adaptlab_serve_adapter_cache", "Adapter cache hits, misses and evictions", ["adapter", "event"], registry=r
        )
        self.cache_bytes = Gauge("adaptlab_serve_adapter_cache_bytes", "Memory held by loaded adapter weights", registry=r)
        self.batch_size = Histogram("adaptlab_serve_batch_size", "Requests per decoded batch", buckets=(1, 2, 4, 8, 16, 32, 64), registry=r)
        self.drift_score = Gauge(
            "adaptlab_drift_score", "Domain-classifier ROC AUC of live vs training prompts (0.5: alike)", ["model"], registry=r
        )
        self.drift_threshold = Gauge("adaptlab_drift_threshold", "ROC AUC above which drift is declared", ["model"], registry=r)
        self.drift_window = Gauge("adaptlab_drift_window_prompts", "Sampled live prompts in the drift window", ["model"], registry=r)
        self.drift_length_p_value = Gauge(
            "adaptlab_drift_length_p_value", "Kolmogorov-Smirnov p-value of live vs training prompt lengths", ["model"], registry=r
        )
        self.drift_computed = Gauge(
            "adaptlab_drift_last_computed_timestamp_seconds", "Unix time drift was last tested", ["model"], registry=r
        )
        self.drift_embedded = Counter("adaptlab_drift_prompts_embedded", "Sampled prompts embedded into the drift window", ["model"], registry=r)
        self.drift_tests = Counter("adaptlab_drift_tests", "Drift tests run on the live window", ["model"], registry=r)
        self.drift_dropped = Counter(
            "adaptlab_drift_prompts_dropped", "Sampled prompts dropped because the embedding queue was full", ["model"], registry=r
        )

    def requests_by_adapter(self) -> dict[str, dict[str, int]]:
        """adapter -> status code -> requests answered, for the closing summary."""
        table: dict[str, dict[str, int]] = {}
        for metric in self.requests.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    table.setdefault(sample.labels["adapter"], {})[sample.labels["status_code"]] = int(sample.value)
        return table

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
