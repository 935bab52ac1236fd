"""Concurrency limits (per tenant and server-wide) answer 429 while a request is in flight, and free up when it ends."""

import httpx
import pytest

from adaptlab.serve.server import running_server

from .conftest import HTTP_TIMEOUT_S, serve_config

# greedy decoding of this prompt runs to max_tokens (asserted below): the slot stays taken for seconds
LONG = {"model": "acme/bot@v1", "prompt": "once upon a time", "max_tokens": 1500}
SHORT = {"model": "acme/bot@v1", "prompt": "me too", "max_tokens": 2}


@pytest.mark.parametrize(
    ("limit", "code", "other_tenant_status"),
    [("max_concurrent_per_tenant", "tenant_busy", 200), ("max_concurrent_requests", "server_busy", 429)],
)
def test_concurrency_limit(world, limit, code, other_tenant_status):
    config = serve_config(world, max_tokens_limit=1500, **{limit: 1})
    with running_server(config) as server:
        acme = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {world.acme_token}"}, timeout=HTTP_TIMEOUT_S)
        globex = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {world.globex_token}"}, timeout=HTTP_TIMEOUT_S)
        with acme, globex:
            with acme.stream("POST", "/v1/completions", json={**LONG, "stream": True}) as streaming:
                assert streaming.status_code == 200
                refused = acme.post("/v1/completions", json=SHORT)
                other_tenant = globex.post("/v1/completions", json={**SHORT, "model": "globex/rival@v1"})
                streamed = streaming.read()
            assert b'"finish_reason":"length"' in streamed.replace(b" ", b""), "the long request must not end early"
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["type"] == "rate_limit_error" and refused.json()["error"]["code"] == code
            assert other_tenant.status_code == other_tenant_status, other_tenant.text
            assert acme.post("/v1/completions", json=SHORT).status_code == 200
