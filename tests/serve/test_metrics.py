"""/metrics: Prometheus text with per-adapter request, latency, token and cache series."""

from prometheus_client.parser import text_string_to_metric_families


def _samples(client) -> dict[tuple, float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
    }


def _value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_labelled_per_adapter(acme):
    before = _samples(acme)
    for _ in range(2):
        assert acme.post("/v1/completions", json={"model": "acme/writer@v1", "prompt": "metrics", "max_tokens": 5}).status_code == 200
    assert acme.post("/v1/completions", json={"model": "acme/writer@v1", "prompt": "metrics", "max_tokens": -1}).status_code == 400
    after = _samples(acme)
    adapter = "acme/writer@v1"

    def delta(name: str, **labels) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("adaptlab_serve_requests_total", adapter=adapter, status_code="200") == 2
    assert delta("adaptlab_serve_requests_total", adapter="unresolved", status_code="400") == 1
    assert delta("adaptlab_serve_request_errors_total", adapter="unresolved", error_type="invalid_request_error") == 1
    for histogram in (
        "gen_ai_server_request_duration_seconds",
        "gen_ai_server_request_queue_time_seconds",
        "gen_ai_server_time_to_first_token_seconds",
    ):
        assert delta(f"{histogram}_count", adapter=adapter) == 2, histogram
    assert delta("gen_ai_server_time_per_output_token_seconds_count", adapter=adapter) == 2 * 4
    assert delta("gen_ai_server_token_usage_total", adapter=adapter, gen_ai_token_type="input") == 2 * len("metrics")
    assert delta("gen_ai_server_token_usage_total", adapter=adapter, gen_ai_token_type="output") == 2 * 5
    assert _value(after, "adaptlab_serve_adapter_cache_total", adapter=adapter, event="miss") >= 1
    assert delta("adaptlab_serve_adapter_cache_total", adapter=adapter, event="hit") >= 1
    assert _value(after, "adaptlab_serve_adapter_load_seconds_count", adapter=adapter) >= 1
    assert _value(after, "adaptlab_serve_adapter_cache_bytes") > 0
