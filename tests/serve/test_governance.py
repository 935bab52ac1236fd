"""Aliases switch live, tenants are isolated (403, audited; merged mode too), merged mode answers like the adapter,
only approved or aliased versions are served unless `allow_unapproved`."""

import time

import httpx
import pytest

from adaptlab.registry import Registry, local_admin
from adaptlab.serve.errors import ServeError
from adaptlab.serve.server import running_server

from .conftest import ALIAS_TTL_S, HTTP_TIMEOUT_S, UNAPPROVED_MODEL, serve_config

REQUEST = {"prompt": "switch", "max_tokens": 10}


def _answer(client, model: str) -> dict:
    response = client.post("/v1/completions", json={"model": model, **REQUEST})
    assert response.status_code == 200, response.text
    return response.json()


def test_promote_and_rollback_switch_versions_without_restart(acme, world):
    """Within the server's alias TTL, that is: the alias's version is cached until then."""
    admin = local_admin("release-manager")
    pinned = {version: _answer(acme, f"acme/bot@v{version}")["choices"][0]["text"] for version in (1, 2)}
    assert pinned[1] != pinned[2]
    with Registry.open(world.registry_root) as registry:
        registry.promote(admin, "acme/bot@v1", "live")
        first = _answer(acme, "acme/bot@live")
        registry.promote(admin, "acme/bot@v2", "live")
        time.sleep(ALIAS_TTL_S)
        promoted = _answer(acme, "acme/bot@live")
        registry.rollback(admin, "acme/bot", "live")
        time.sleep(ALIAS_TTL_S)
        rolled_back = _answer(acme, "acme/bot@live")
    assert (first["model"], promoted["model"], rolled_back["model"]) == ("acme/bot@v1", "acme/bot@v2", "acme/bot@v1")
    assert [a["choices"][0]["text"] for a in (first, promoted, rolled_back)] == [pinned[1], pinned[2], pinned[1]]


def _denials(world) -> set[tuple[str, str, str]]:
    """(actor, tenant, requested model) of every `serve.denied` audit entry."""
    with Registry.open(world.registry_root) as registry:
        return {(e.actor, e.tenant, e.target) for e in registry.audit_entries(local_admin()) if e.action == "serve.denied"}


def _client(server, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT_S)


def test_cross_tenant_requests_are_refused_and_audited(acme, globex, world):
    for client, model in ((globex, "acme/bot@production"), (acme, "globex/rival@v1")):
        response = client.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert error["type"] == "permission_error" and error["param"] == "model"
    assert _denials(world) >= {("globex-app", "globex", "acme/bot@production"), ("acme-app", "acme", "globex/rival@v1")}


@pytest.fixture(scope="module")
def merged_server(world):
    with running_server(serve_config(world, merge="acme/bot@v2")) as running:
        yield running


def test_merged_mode_answers_like_the_unmerged_adapter(acme, merged_server, world):
    chat_request = {"model": "acme/bot@v2", "messages": [{"role": "user", "content": "merge?"}], "max_tokens": 10}
    unmerged_chat, unmerged_completion = acme.post("/v1/chat/completions", json=chat_request).json(), _answer(acme, "acme/bot@v2")
    with _client(merged_server, world.acme_token) as merged:
        chat = merged.post("/v1/chat/completions", json=chat_request).json()
        completion = _answer(merged, "acme/bot@v2")
        assert [card["id"] for card in merged.get("/v1/models").json()["data"]] == ["acme/bot@v2"]
        assert merged.post("/v1/completions", json={"model": "builtin:tiny", **REQUEST}).status_code == 404
    assert chat["choices"][0]["message"] == unmerged_chat["choices"][0]["message"]
    assert completion["choices"][0]["text"] == unmerged_completion["choices"][0]["text"]
    assert completion["model"] == "acme/bot@v2"


def test_merged_mode_refuses_other_tenants_and_audits_it(merged_server, world):
    with _client(merged_server, world.globex_token) as globex:
        refused = globex.post("/v1/completions", json={"model": "acme/bot@v2", **REQUEST})
        assert globex.get("/v1/models").json()["data"] == []
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error", refused.text
    assert ("globex-app", "globex", "acme/bot@v2") in _denials(world)


def test_unapproved_versions_are_refused_by_default(acme):
    refused = acme.post("/v1/completions", json={"model": f"{UNAPPROVED_MODEL}@v1", **REQUEST})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "version_not_approved", refused.text
    listed = {card["id"] for card in acme.get("/v1/models").json()["data"]}
    assert {"acme/bot@production", "acme/bot@v2"} <= listed  # behind an alias; approved
    assert not any(name.startswith(UNAPPROVED_MODEL) for name in listed)


def test_an_unapproved_version_cannot_be_merged_by_default(world):
    with pytest.raises(ServeError, match="--allow-unapproved"):
        with running_server(serve_config(world, merge=f"{UNAPPROVED_MODEL}@v1")):
            pass


def test_allow_unapproved_serves_any_version(world):
    with running_server(serve_config(world, allow_unapproved=True)) as server, _client(server, world.acme_token) as client:
        assert _answer(client, f"{UNAPPROVED_MODEL}@v1")["model"] == f"{UNAPPROVED_MODEL}@v1"
        assert f"{UNAPPROVED_MODEL}@v1" in {card["id"] for card in client.get("/v1/models").json()["data"]}
