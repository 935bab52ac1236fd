"""The adapter cache is bounded by bytes, evicts least recently used, never evicts pinned adapters."""

import json
import shutil

import pytest

from adaptlab.models import load_causal_lm
from adaptlab.serve.engines.batching.adapter_cache import AdapterCache
from adaptlab.serve.metrics import ServeMetrics


@pytest.fixture
def make_cache(tiny_model, world):
    def make(capacity_bytes: int) -> AdapterCache:
        return AdapterCache(
            load_causal_lm(tiny_model.path), tiny_model, capacity_bytes, ServeMetrics(), lambda ref: world.adapter_dirs[ref]
        )

    return make


def _loaded(cache: AdapterCache) -> set[str]:
    return set(cache.lora.adapters)


def test_budget_in_bytes_evicts_least_recently_used(make_cache):
    probe = make_cache(capacity_bytes=10**9)
    probe.ensure(["acme/bot@v1"])
    one_adapter = probe.loaded_bytes["acme/bot@v1"]
    assert one_adapter > 0

    cache = make_cache(capacity_bytes=2 * one_adapter)
    assert cache.ensure(["acme/bot@v1"]) == {}
    cache.ensure(["acme/bot@v2"])
    cache.ensure(["acme/bot@v1"])  # v1 is now the most recently used
    cache.ensure(["acme/helper@v1"])
    assert list(cache.loaded_bytes) == ["acme/bot@v1", "acme/helper@v1"]
    assert _loaded(cache) == {"acme/bot@v1", "acme/helper@v1"}
    assert cache.total_bytes <= cache.capacity_bytes
    events = cache.metrics.cache_events
    assert events.labels("acme/bot@v2", "eviction")._value.get() == 1
    assert events.labels("acme/bot@v1", "hit")._value.get() == 1
    assert events.labels("acme/bot@v1", "miss")._value.get() == 1


def test_pinned_adapters_stay_and_a_batch_may_exceed_the_budget(make_cache):
    cache = make_cache(capacity_bytes=1)
    cache.pin("acme/bot@v1")
    cache.ensure(["acme/bot@v2", "acme/helper@v1"])
    assert set(cache.loaded_bytes) == {"acme/bot@v1", "acme/bot@v2", "acme/helper@v1"}
    cache.ensure(["acme/writer@v1"])
    assert set(cache.loaded_bytes) == {"acme/bot@v1", "acme/writer@v1"}


def test_an_adapter_that_does_not_fit_is_refused_not_loaded(tiny_model, world, tmp_path):
    folder = tmp_path / "foreign"
    shutil.copytree(world.adapter_dirs["acme/bot@v1"], folder)
    config_file = folder / "adapter_config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "target_modules": ["no_such_proj"]}))
    cache = AdapterCache(load_causal_lm(tiny_model.path), tiny_model, 10**9, ServeMetrics(), lambda ref: folder)
    failures = cache.ensure(["acme/foreign@v1"])
    assert "no_such_proj" in str(failures["acme/foreign@v1"])
    assert cache.loaded_bytes == {} and _loaded(cache) == set()
