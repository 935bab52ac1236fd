"""Requests for different adapters decoded in one batch get exactly the tokens each would get alone; a batch
never holds more than max_batch_size requests."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from prometheus_client.parser import text_string_to_metric_families

from adaptlab.models import load_tokenizer
from adaptlab.serve.server import running_server

from .conftest import HTTP_TIMEOUT_S, serve_config

REQUESTS = [
    ("builtin:tiny", "alpha"),
    ("acme/bot@v1", "bravo charlie"),
    ("acme/bot@v2", "delta"),
    ("acme/helper@v1", "echo foxtrot golf"),
    ("acme/writer@v1", "hotel"),
    ("acme/bot@v1", "india juliet kilo lima"),
]
MAX_TOKENS = 8


def _batch_counts(client, max_rows: int = 1) -> tuple[float, float]:
    """(forward passes, forward passes over at most `max_rows` requests) so far; `max_rows` is a bucket bound."""
    for family in text_string_to_metric_families(client.get("/metrics").text):
        if family.name == "adaptlab_serve_batch_size":
            samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
            return samples[("adaptlab_serve_batch_size_count", None)], samples[("adaptlab_serve_batch_size_bucket", f"{max_rows:.1f}")]
    raise AssertionError("no batch size metric")


def _send_together(client, requests: list[tuple[str, str]]) -> list:
    """POST one completion per (model, prompt), all released at once from their own threads."""
    barrier = threading.Barrier(len(requests))

    def send(request):
        model, prompt = request
        barrier.wait()
        return client.post("/v1/completions", json={"model": model, "prompt": prompt, "max_tokens": MAX_TOKENS})

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


def test_mixed_adapter_batch_matches_serving_each_alone(acme, reference, tiny_model):
    tokenizer = load_tokenizer(tiny_model.path)
    batches_before, singles_before = _batch_counts(acme)
    responses = _send_together(acme, REQUESTS)
    batches_after, singles_after = _batch_counts(acme)
    assert (batches_after - batches_before) - (singles_after - singles_before) >= 1, "no forward pass held more than one request"
    for (model, prompt), response in zip(REQUESTS, responses):
        assert response.status_code == 200, response.text
        adapter = None if model == "builtin:tiny" else model
        expected = reference(adapter, tokenizer(prompt)["input_ids"], MAX_TOKENS)
        assert response.json()["choices"][0]["text"] == tokenizer.decode(expected, skip_special_tokens=True), model


def test_a_request_joining_a_running_batch_gets_the_same_tokens(acme, reference, tiny_model):
    """The second request arrives while the first is mid-decode, so it joins the running batch
    (its KV cache merged in, with a different prompt length); neither answer changes."""
    tokenizer = load_tokenizer(tiny_model.path)
    long_request = {"model": "acme/bot@v2", "prompt": "a long story", "max_tokens": 200, "stream": True}
    joining = {"model": "acme/helper@v1", "prompt": "a much longer prompt joins late", "max_tokens": MAX_TOKENS}
    passes_before, single_before = _batch_counts(acme)
    with acme.stream("POST", "/v1/completions", json=long_request) as streaming:
        lines = streaming.iter_lines()
        first_chunk = next(line for line in lines if line)
        joined = acme.post("/v1/completions", json=joining)
        rest = [line for line in lines if line]
    passes_after, single_after = _batch_counts(acme)
    assert (passes_after - passes_before) - (single_after - single_before) >= 1, "the second request never ran alongside the first"
    chunks = [json.loads(line[len("data: ") :]) for line in [first_chunk, *rest] if line != "data: [DONE]"]
    streamed_text = "".join(chunk["choices"][0]["text"] for chunk in chunks)
    long_expected = reference("acme/bot@v2", tokenizer("a long story")["input_ids"], 200)
    assert streamed_text == tokenizer.decode(long_expected, skip_special_tokens=True)
    assert len(long_expected) > MAX_TOKENS  # still running when the second request came
    joining_expected = reference("acme/helper@v1", tokenizer(joining["prompt"])["input_ids"], MAX_TOKENS)
    assert joined.json()["choices"][0]["text"] == tokenizer.decode(joining_expected, skip_special_tokens=True)


def test_a_batch_never_exceeds_max_batch_size(world):
    with (
        running_server(serve_config(world, max_batch_size=2)) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {world.acme_token}"}, timeout=HTTP_TIMEOUT_S) as client,
    ):
        responses = _send_together(client, REQUESTS)
        passes, at_most_two = _batch_counts(client, max_rows=2)
        _, single = _batch_counts(client, max_rows=1)
    assert all(response.status_code == 200 for response in responses)
    assert at_most_two == passes, "a forward pass held more than max_batch_size requests"
    assert single < passes, "no forward pass held two requests"
