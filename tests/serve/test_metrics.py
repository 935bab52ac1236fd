"""/metrics: Prometheus text with per-adapter request, latency, token and cache series; latencies count from
HTTP arrival; evictions of a running server show up."""

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from adaptlab.serve.resolution import TOKEN_TTL_S
from adaptlab.serve.server import running_server

from .conftest import HTTP_TIMEOUT_S, serve_config

AUTH_DELAY_S = 0.2


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
        "adaptlab_serve_request_queue_seconds",
        "gen_ai_server_time_to_first_token_seconds",
    ):
        assert delta(f"{histogram}_count", adapter=adapter) == 2, histogram
    assert delta("gen_ai_server_time_per_output_token_seconds_count", adapter=adapter) == 2 * 4
    assert delta("adaptlab_serve_tokens_total", adapter=adapter, gen_ai_token_type="input") == 2 * len("metrics")
    assert delta("adaptlab_serve_tokens_total", adapter=adapter, gen_ai_token_type="output") == 2 * 5
    assert _value(after, "adaptlab_serve_adapter_cache_total", adapter=adapter, event="miss") >= 1
    assert delta("adaptlab_serve_adapter_cache_total", adapter=adapter, event="hit") >= 1
    assert _value(after, "adaptlab_serve_adapter_load_seconds_count", adapter=adapter) >= 1
    assert _value(after, "adaptlab_serve_adapter_cache_bytes") > 0


def test_latency_counts_from_http_arrival_including_authentication(acme, server, monkeypatch):
    authenticate = server.runtime.registry.authenticate

    def slow_authenticate(token: str):
        time.sleep(AUTH_DELAY_S)
        return authenticate(token)

    monkeypatch.setattr(server.runtime.registry, "authenticate", slow_authenticate)
    time.sleep(TOKEN_TTL_S)  # the token's cached principal expires: this request authenticates
    before = _samples(acme)
    assert acme.post("/v1/completions", json={"model": "acme/writer@v1", "prompt": "slow auth", "max_tokens": 1}).status_code == 200
    after = _samples(acme)
    for histogram in ("gen_ai_server_time_to_first_token_seconds_sum", "gen_ai_server_request_duration_seconds_sum"):
        observed = _value(after, histogram, adapter="acme/writer@v1") - _value(before, histogram, adapter="acme/writer@v1")
        assert observed >= AUTH_DELAY_S, histogram


def test_evictions_show_in_the_metrics_of_a_running_server(world):
    with (
        running_server(serve_config(world, cache_bytes=1)) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {world.acme_token}"}, timeout=HTTP_TIMEOUT_S) as client,
    ):
        for model in ("acme/bot@v1", "acme/helper@v1", "acme/bot@v1"):  # a budget below one adapter keeps only the one in use
            assert client.post("/v1/completions", json={"model": model, "prompt": "evict", "max_tokens": 2}).status_code == 200
        samples = _samples(client)
        one_adapter_bytes = server.runtime.engine.cache.loaded_bytes["acme/bot@v1"]
    assert _value(samples, "adaptlab_serve_adapter_cache_total", adapter="acme/bot@v1", event="eviction") == 1
    assert _value(samples, "adaptlab_serve_adapter_cache_total", adapter="acme/helper@v1", event="eviction") == 1
    assert _value(samples, "adaptlab_serve_adapter_cache_total", adapter="acme/bot@v1", event="miss") == 2
    assert _value(samples, "adaptlab_serve_adapter_cache_bytes") == one_adapter_bytes
