"""One request never fails another: a seed outside int64 is a 400 at the API, and whatever fails for one
row inside the scheduler (a seed torch cannot take, a callback that raises mid-decode) fails that row
only while the rest of its batch decodes to the end."""

import json
import queue
import socket
import time

import httpx
import pytest

from adaptlab.serve.engines.base import Failed, Finished, Token
from adaptlab.serve.engines.batching.scheduler import Job
from adaptlab.serve.server import running_server

from .conftest import HTTP_TIMEOUT_S, serve_config

GOOD = {"model": "acme/bot@v1", "prompt": "hello", "max_tokens": 4}
NEW_TOKENS = 8
LONG_TOKENS = 400


def test_seed_outside_int64_is_a_400_naming_seed(acme):
    for seed in (2**63, 2**64, -(2**63) - 1):
        response = acme.post("/v1/completions", json={**GOOD, "seed": seed, "temperature": 0.8})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "seed"
    for seed in (2**63 - 1, -(2**63)):
        assert acme.post("/v1/completions", json={**GOOD, "seed": seed, "temperature": 0.8}).status_code == 200


class _Recorder:
    """A job's events, read from the test thread; `raise_on_token` makes its token callback fail at that token."""

    def __init__(self, raise_on_token: int | None = None):
        self.events: queue.Queue = queue.Queue()
        self.tokens = 0
        self.raise_on_token = raise_on_token

    def __call__(self, event) -> None:
        if isinstance(event, Token):
            self.tokens += 1
            if self.tokens == self.raise_on_token:
                raise RuntimeError("this row's consumer broke")
        self.events.put(event)

    def outcome(self):
        deadline = time.monotonic() + HTTP_TIMEOUT_S
        while True:
            event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            if isinstance(event, (Finished, Failed)):
                return event


def _job(runtime, adapter: str | None, on_event, seed: int | None = 7) -> Job:
    return Job(
        prompt_ids=runtime.tokenizer("isolate me")["input_ids"],
        adapter=adapter,
        max_new_tokens=NEW_TOKENS,
        temperature=0.8,
        top_p=0.9,
        seed=seed,
        stop_token_ids=frozenset(),
        on_event=on_event,
        received_at=time.perf_counter(),
    )


def _run_together(server, jobs: list[tuple[str | None, _Recorder, int | None]]) -> list:
    scheduler = server.runtime.engine.scheduler
    for adapter, recorder, seed in jobs:  # submitted back to back: they join the batch together
        scheduler.submit(_job(server.runtime, adapter, recorder, seed))
    return [recorder.outcome() for _, recorder, _ in jobs]


def test_a_seed_torch_refuses_fails_only_its_own_request(server, acme):
    outcomes = _run_together(
        server, [("acme/bot@v1", _Recorder(), 1), (None, _Recorder(), 2**64), ("globex/rival@v1", _Recorder(), 3)]
    )
    assert isinstance(outcomes[1], Failed)
    assert [type(o) for o in (outcomes[0], outcomes[2])] == [Finished, Finished]
    assert acme.post("/v1/completions", json=GOOD).status_code == 200


def test_a_row_failing_mid_decode_leaves_the_rest_of_the_batch_decoding(server, acme):
    recorders = [_Recorder(), _Recorder(raise_on_token=3), _Recorder()]
    outcomes = _run_together(server, [("acme/bot@v1", recorders[0], 1), ("acme/helper@v1", recorders[1], 2), (None, recorders[2], 3)])
    assert isinstance(outcomes[1], Failed) and "consumer broke" in str(outcomes[1].error)
    assert [type(o) for o in (outcomes[0], outcomes[2])] == [Finished, Finished]
    assert recorders[0].tokens == recorders[2].tokens == NEW_TOKENS
    assert acme.post("/v1/completions", json=GOOD).status_code == 200


@pytest.fixture(scope="module")
def long_server(world):
    with running_server(serve_config(world, max_tokens_limit=LONG_TOKENS)) as running:
        yield running


def test_an_abandoned_request_stops_decoding(long_server, world):
    """A client that leaves before its (non-streamed) answer is ready frees its batch row and its concurrency slot
    at once, instead of decoding the whole answer for nobody (greedy: the same request, run to the end, is longer)."""
    runtime = long_server.runtime
    request = {"model": "acme/helper@v1", "prompt": "go on", "max_tokens": LONG_TOKENS}  # greedy: runs to max_tokens
    headers = {"Authorization": f"Bearer {world.acme_token}"}
    full = httpx.post(f"{long_server.url}/v1/completions", json=request, headers=headers, timeout=HTTP_TIMEOUT_S).json()
    full_tokens = full["usage"]["completion_tokens"]
    assert full["choices"][0]["finish_reason"] == "length", "this prompt's answer must be long enough to abandon"
    output_tokens = runtime.metrics.tokens.labels("acme/helper@v1", "output")
    before = output_tokens._value.get()
    body = json.dumps(request).encode()
    host, port = long_server.url.removeprefix("http://").split(":")
    deadline = time.monotonic() + HTTP_TIMEOUT_S
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(
            b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {world.acme_token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        while runtime.in_flight[""] == 0 and time.monotonic() < deadline:  # admitted
            time.sleep(0.005)
    while runtime.in_flight[""] and time.monotonic() < deadline:
        time.sleep(0.005)
    assert runtime.in_flight[""] == 0
    assert output_tokens._value.get() - before < full_tokens
