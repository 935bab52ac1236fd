"""Aliases switch live, tenants are isolated (403, audited), merged mode answers like the adapter."""

import httpx

from adaptlab.registry import Registry, local_admin
from adaptlab.serve.server import running_server

from .conftest import HTTP_TIMEOUT_S, serve_config

REQUEST = {"prompt": "switch", "max_tokens": 10}


def _answer(client, model: str) -> dict:
    response = client.post("/v1/completions", json={"model": model, **REQUEST})
    assert response.status_code == 200, response.text
    return response.json()


def test_promote_and_rollback_switch_versions_without_restart(acme, world):
    admin = local_admin("release-manager")
    pinned = {version: _answer(acme, f"acme/bot@v{version}")["choices"][0]["text"] for version in (1, 2)}
    assert pinned[1] != pinned[2]
    with Registry.open(world.registry_root) as registry:
        registry.promote(admin, "acme/bot@v1", "live")
        first = _answer(acme, "acme/bot@live")
        registry.promote(admin, "acme/bot@v2", "live")
        promoted = _answer(acme, "acme/bot@live")
        registry.rollback(admin, "acme/bot", "live")
        rolled_back = _answer(acme, "acme/bot@live")
    assert (first["model"], promoted["model"], rolled_back["model"]) == ("acme/bot@v1", "acme/bot@v2", "acme/bot@v1")
    assert [a["choices"][0]["text"] for a in (first, promoted, rolled_back)] == [pinned[1], pinned[2], pinned[1]]


def test_cross_tenant_requests_are_refused_and_audited(acme, globex, world):
    for client, model in ((globex, "acme/bot@production"), (acme, "globex/rival@v1")):
        response = client.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert error["type"] == "permission_error" and error["param"] == "model"
    with Registry.open(world.registry_root) as registry:
        denied = [e for e in registry.audit_entries(local_admin()) if e.action == "serve.denied"]
    assert {(e.actor, e.tenant, e.target) for e in denied} >= {
        ("globex-app", "globex", "acme/bot@production"),
        ("acme-app", "acme", "globex/rival@v1"),
    }


def test_merged_mode_answers_like_the_unmerged_adapter(acme, world):
    unmerged = {
        "chat": acme.post(
            "/v1/chat/completions", json={"model": "acme/bot@v2", "messages": [{"role": "user", "content": "merge?"}], "max_tokens": 10}
        ).json(),
        "completion": _answer(acme, "acme/bot@v2"),
    }
    with running_server(serve_config(world, merge="acme/bot@v2")) as merged_server:
        headers = {"Authorization": f"Bearer {world.acme_token}"}
        with httpx.Client(base_url=merged_server.url, headers=headers, timeout=HTTP_TIMEOUT_S) as merged:
            chat = merged.post(
                "/v1/chat/completions", json={"model": "acme/bot@v2", "messages": [{"role": "user", "content": "merge?"}], "max_tokens": 10}
            ).json()
            completion = _answer(merged, "acme/bot@v2")
            assert [card["id"] for card in merged.get("/v1/models").json()["data"]] == ["acme/bot@v2"]
            assert merged.post("/v1/completions", json={"model": "builtin:tiny", **REQUEST}).status_code == 404
        with httpx.Client(
            base_url=merged_server.url, headers={"Authorization": f"Bearer {world.globex_token}"}, timeout=HTTP_TIMEOUT_S
        ) as other:
            assert other.post("/v1/completions", json={"model": "acme/bot@v2", **REQUEST}).status_code == 403
    assert chat["choices"][0]["message"] == unmerged["chat"]["choices"][0]["message"]
    assert completion["choices"][0]["text"] == unmerged["completion"]["choices"][0]["text"]
    assert completion["model"] == "acme/bot@v2"


def test_approved_only_serves_approved_or_aliased_versions(world):
    with Registry.open(world.registry_root) as registry:
        registry.approve(local_admin("reviewer"), "acme/helper@v1", "looked at 20 samples")
    with running_server(serve_config(world, approved_only=True)) as server:
        headers = {"Authorization": f"Bearer {world.acme_token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=HTTP_TIMEOUT_S) as client:
            assert _answer(client, "acme/bot@production")["model"] == "acme/bot@v1"  # behind an alias
            assert _answer(client, "acme/helper@v1")["model"] == "acme/helper@v1"  # approved
            refused = client.post("/v1/completions", json={"model": "acme/bot@v2", **REQUEST})
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "version_not_approved"
            listed = {card["id"] for card in client.get("/v1/models").json()["data"]}
    assert {"acme/bot@production", "acme/helper@v1"} <= listed and "acme/bot@v2" not in listed
