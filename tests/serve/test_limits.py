"""Concurrency limits answer 429 while a request is in flight, and free up when it ends."""

import httpx

from adaptlab.serve.server import running_server

from .conftest import HTTP_TIMEOUT_S, serve_config

LONG = {"model": "acme/bot@v1", "prompt": "go on", "max_tokens": 1500}
SHORT = {"model": "acme/bot@v1", "prompt": "me too", "max_tokens": 2}


def test_tenant_concurrency_limit(world):
    config = serve_config(world, max_concurrent_per_tenant=1, max_tokens_limit=1500)
    with running_server(config) as server:
        acme = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {world.acme_token}"}, timeout=HTTP_TIMEOUT_S)
        globex = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {world.globex_token}"}, timeout=HTTP_TIMEOUT_S)
        with acme, globex:
            with acme.stream("POST", "/v1/completions", json={**LONG, "stream": True}) as streaming:
                assert streaming.status_code == 200
                refused = acme.post("/v1/completions", json=SHORT)
                other_tenant = globex.post("/v1/completions", json={**SHORT, "model": "globex/rival@v1"})
                streaming.read()
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["type"] == "rate_limit_error"
            assert other_tenant.status_code == 200, other_tenant.text
            assert acme.post("/v1/completions", json=SHORT).status_code == 200
