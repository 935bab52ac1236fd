"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (Schemathesis), against the real
server on loopback with builtin:tiny: no request gets a 5xx, every response matches the schema
(status, content type, body), and the server is healthy afterwards. Bounded: a fixed number of
examples per operation and no deadline games, so the whole file runs in well under two minutes."""

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from adaptlab.serve.protocol import INT64_MAX, INT64_MIN
from adaptlab.serve.server import running_server

from .conftest import BROKEN_MODEL, HTTP_TIMEOUT_S, UNAPPROVED_MODEL, serve_config

EXAMPLES_PER_OPERATION = 40
# Like OpenAI's API, this one refuses some schema-valid requests with a 400 for server-side limits (max_tokens over
# --max-tokens-limit, a prompt past the context, a `model` that is no valid reference), so a 400 is an acceptable
# answer to valid data. Server errors are still failures (Schemathesis' not_a_server_error check).
SCHEMATHESIS_CONFIG = {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429"]}}}
FUZZ_MAX_TOKENS = 4
# Names the server knows, so that generated bodies also reach decoding and every kind of refusal: the base, adapters
# (by version and alias), another tenant's (403), an unapproved one (403) and one that does not fit the base (409).
KNOWN_MODELS = ["builtin:tiny", "acme/bot@v1", "acme/helper@production", "globex/rival@v1", f"{UNAPPROVED_MODEL}@v1", f"{BROKEN_MODEL}@v1"]  # decoding stays cheap; larger max_tokens are refused (400), which is fuzzed too


@pytest.fixture(scope="module")
def fuzzed_server(world):
    with running_server(serve_config(world, max_tokens_limit=FUZZ_MAX_TOKENS, default_max_tokens=2)) as running:
        yield running


@pytest.fixture(scope="module")
def api_schema(fuzzed_server):
    return schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json", config=schemathesis.Config.from_dict(SCHEMATHESIS_CONFIG))


schema = schemathesis.pytest.from_fixture("api_schema")


@schemathesis.hook
def filter_case(context, case) -> bool:
    """Skip 'valid' seeds past int64: the generator bounds integers through floats, so 2**63 - 1 rounds up and
    lets a few out (the server rightly refuses them; test_isolation.py checks the bounds exactly)."""
    seed = case.body.get("seed") if isinstance(case.body, dict) else None
    positive = case.meta is None or not case.meta.generation.mode.is_negative
    return not (positive and isinstance(seed, int) and not INT64_MIN <= seed <= INT64_MAX)


@schemathesis.hook
def flatmap_body(context, body):
    """Keep a generated `model` or swap in a known one; only a schema-valid (non-empty string) one is swapped,
    so a negative case stays negative."""
    if not (isinstance(body, dict) and isinstance(body.get("model"), str) and body["model"]):
        return st.just(body)
    return st.sampled_from([body["model"], *KNOWN_MODELS]).map(lambda model: {**body, "model": model})


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_answers_every_generated_request_within_its_schema(case, world):
    case.call_and_validate(headers={"Authorization": f"Bearer {world.acme_token}"}, timeout=HTTP_TIMEOUT_S)


def test_server_is_healthy_after_fuzzing(fuzzed_server, world):
    """Also that the fuzzing reached both decoding and refusals, so the run above was not vacuous."""
    by_status: dict[str, int] = {}
    for statuses in fuzzed_server.runtime.metrics.requests_by_adapter().values():
        for status, count in statuses.items():
            by_status[status] = by_status.get(status, 0) + count
    print(f"fuzzed requests by status: {dict(sorted(by_status.items()))}")
    assert by_status.get("200", 0) >= 10 and by_status.get("400", 0) >= 10 and not any(s.startswith("5") for s in by_status)
    headers = {"Authorization": f"Bearer {world.acme_token}"}
    assert httpx.get(f"{fuzzed_server.url}/readyz").status_code == 200
    answer = httpx.post(
        f"{fuzzed_server.url}/v1/completions", json={"model": "acme/bot@v1", "prompt": "still here?"}, headers=headers, timeout=HTTP_TIMEOUT_S
    )
    assert answer.status_code == 200, answer.text
    assert fuzzed_server.runtime.in_flight[""] == 0
