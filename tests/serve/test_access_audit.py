"""401s and unapproved-version 403s are written to the registry's audit log like cross-tenant 403s, and
`/metrics` can require the operator's token (it names every tenant's models and their traffic)."""

import httpx
import pytest

from adaptlab.registry import Registry, local_admin
from adaptlab.registry.access import token_sha256
from adaptlab.serve.server import running_server

from .conftest import HTTP_TIMEOUT_S, UNAPPROVED_MODEL, serve_config

COMPLETION = {"prompt": "hello", "max_tokens": 2}
METRICS_TOKEN = "scrape-only-secret"


def _entries(world, action: str) -> list:
    with Registry.open(world.registry_root) as registry:
        return [entry for entry in registry.audit_entries(local_admin()) if entry.action == action]


def test_unauthenticated_requests_are_audited(server, world):
    before = len(_entries(world, "serve.unauthenticated"))
    forged = "adl_forged_token"
    for headers in ({}, {"Authorization": f"Bearer {forged}"}):
        response = httpx.post(f"{server.url}/v1/completions", json={"model": "builtin:tiny", **COMPLETION}, headers=headers)
        assert response.status_code == 401
    entries = _entries(world, "serve.unauthenticated")[before:]
    assert [(e.target, e.after["token_sha256"]) for e in entries] == [
        ("/v1/completions", None),
        ("/v1/completions", token_sha256(forged)[:16]),
    ]
    assert all(e.after["client"] == "127.0.0.1" and forged not in str(e.after) for e in entries)


def test_unapproved_versions_are_refused_and_audited(acme, world):
    response = acme.post("/v1/completions", json={"model": f"{UNAPPROVED_MODEL}@v1", **COMPLETION})
    assert response.status_code == 403 and response.json()["error"]["code"] == "version_not_approved"
    denials = {(e.actor, e.tenant, e.target) for e in _entries(world, "serve.denied")}
    assert ("acme-app", "acme", f"{UNAPPROVED_MODEL}@v1") in denials


@pytest.fixture(scope="module")
def guarded_server(world):
    with running_server(serve_config(world, metrics_token=METRICS_TOKEN)) as running:
        yield running


def test_metrics_token_guards_metrics(guarded_server, world):
    before = len(_entries(world, "serve.unauthenticated"))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {world.acme_token}"}):
        response = httpx.get(f"{guarded_server.url}/metrics", headers=headers, timeout=HTTP_TIMEOUT_S)
        assert response.status_code == 401, response.text
        assert "adaptlab_serve" not in response.text
    assert [e.target for e in _entries(world, "serve.unauthenticated")[before:]] == ["/metrics"] * 3
    response = httpx.get(f"{guarded_server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200 and "adaptlab_serve_requests" in response.text
