"""The server reads the registry once per thing that can change: SQL statements counted on the registry's
engine show that a cached token, `@vN` record or alias costs none; a revoked token and a moved alias
take effect within their TTLs; /v1/models costs the same with one alias or many."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from adaptlab.registry import GatePolicy, Registry, local_admin
from adaptlab.registry.errors import AuthenticationError
from adaptlab.serve.resolution import TOKEN_TTL_S, CachedRegistry, servable_refusal
from tests.registry.runs import make_run, save_lora_adapter, write_dataset

from .conftest import HTTP_TIMEOUT_S

ALIAS_TTL_S = 5.0
ADMIN = local_admin("ops-admin")


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def statements(registry: Registry) -> Iterator[list[str]]:
    """Every SQL statement the registry's engine sends while the block runs."""
    sent: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):
        sent.append(statement)

    event.listen(registry.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(registry.engine, "before_cursor_execute", record)


@pytest.fixture(scope="module")
def initech(world, tiny_model, tmp_path_factory):
    """A tenant of its own (so its aliases can move): initech/chatbot v1 (approved, alias production) and
    v2 (not approved), and a reader token."""
    root = tmp_path_factory.mktemp("initech")
    data_files = write_dataset(root / "data")
    with Registry.open(world.registry_root) as registry:
        registry.create_tenant(ADMIN, "initech")
        registry.set_gates(ADMIN, "initech/chatbot", GatePolicy(required_approvals=0))
        for seed in (21, 22):
            adapter = save_lora_adapter(tiny_model, root / f"seed{seed}", seed=seed)
            registry.register(ADMIN, make_run(adapter, tiny_model, data_files, root / f"run{seed}"), "initech/chatbot")
        registry.approve(local_admin("reviewer"), "initech/chatbot@v1", "fixture")
        registry.promote(ADMIN, "initech/chatbot@v1", "production")
        registry.set_gates(ADMIN, "initech/empty", GatePolicy())  # a model with no versions yet
        return registry.create_token(ADMIN, "initech", "reader", "initech-app")


@pytest.fixture
def registry(world, initech):
    with Registry.open(world.registry_root) as opened:
        yield opened


def _cached(registry: Registry, clock: Clock) -> CachedRegistry:
    return CachedRegistry(registry, alias_ttl_s=ALIAS_TTL_S, timer=clock)


def test_a_token_is_read_once_per_ttl_and_its_revocation_takes_effect_within_a_second(registry):
    assert TOKEN_TTL_S < 1
    token = registry.create_token(ADMIN, "initech", "reader", "short-lived")
    clock = Clock()
    cached = _cached(registry, clock)
    with statements(registry) as first:
        caller = cached.principal(token)
    with statements(registry) as again:
        assert cached.principal(token) == caller
    assert first and again == []
    registry.revoke_token(ADMIN, registry.list_tokens(ADMIN, "initech")[-1].id)
    clock.now += TOKEN_TTL_S
    with pytest.raises(AuthenticationError):
        cached.principal(token)


def test_an_approved_version_is_read_once_and_an_alias_once_per_ttl(registry, initech):
    clock = Clock()
    cached = _cached(registry, clock)
    caller = cached.principal(initech)
    for model in ("chatbot@v1", "initech/chatbot@production"):
        assert cached.version(caller, model).ref == "initech/chatbot@v1"
    clock.now += 100 * ALIAS_TTL_S
    with statements(registry) as pinned_version:
        assert cached.version(caller, "initech/chatbot@v1").ref == "initech/chatbot@v1"
    with statements(registry) as alias:
        cached.version(caller, "initech/chatbot@production")
    assert pinned_version == [] and alias


def test_a_promotion_and_a_rollback_take_effect_within_the_alias_ttl(registry, initech):
    clock = Clock()
    cached = _cached(registry, clock)
    caller = cached.principal(initech)
    assert cached.version(caller, "initech/chatbot@production").version == 1
    registry.promote(ADMIN, "initech/chatbot@v2", "production")
    try:
        assert cached.version(caller, "initech/chatbot@production").version == 1  # still within the TTL
        clock.now += ALIAS_TTL_S
        assert cached.version(caller, "initech/chatbot@production").version == 2
    finally:
        registry.rollback(ADMIN, "initech/chatbot", "production")
    clock.now += ALIAS_TTL_S
    assert cached.version(caller, "initech/chatbot@production").version == 1


def test_approval_by_alias_alone_is_checked_again_after_the_ttl(registry, initech, tiny_model):
    """v2 has no approval: servable only while an alias points at it, so its record is not kept for good."""
    clock = Clock()
    cached = _cached(registry, clock)
    caller = cached.principal(initech)
    registry.promote(ADMIN, "initech/chatbot@v2", "canary")
    assert servable_refusal(cached.version(caller, "initech/chatbot@v2"), tiny_model, allow_unapproved=False) is None
    registry.promote(ADMIN, "initech/chatbot@v1", "canary")  # v2 loses its only alias
    clock.now += ALIAS_TTL_S
    refusal = servable_refusal(cached.version(caller, "initech/chatbot@v2"), tiny_model, allow_unapproved=False)
    assert refusal is not None and refusal.code == "version_not_approved"


def _listing_statements(registry: Registry, token: str) -> tuple[int, int, list[str]]:
    """Statements of a cold listing and of one after the aliases expired, beyond `Registry.list_models`'s own."""
    clock = Clock()
    cached = _cached(registry, clock)
    caller = cached.principal(token)
    with statements(registry) as listing:
        registry.list_models(caller)
    with statements(registry) as cold:
        cached.listed_versions(caller)
    clock.now += ALIAS_TTL_S
    with statements(registry) as expired:
        listed = cached.listed_versions(caller)
    with statements(registry) as warm:
        assert cached.listed_versions(caller) == listed
    assert warm == []
    return len(cold) - len(listing), len(expired) - len(listing), [name for name, _ in listed]


def test_listing_costs_the_same_with_one_alias_or_many(registry, initech):
    """One read per version listed (none for an approved one already read), nothing per alias; within the
    TTL, nothing at all. (`Registry.list_models` itself still reads each alias's version: registry-side.)"""
    cold, expired, names = _listing_statements(registry, initech)
    assert "initech/chatbot@production" in names and not any(name.startswith("initech/empty") for name in names)
    for alias in ("blue", "green", "staging", "eu", "us"):
        registry.promote(ADMIN, "initech/chatbot@v1", alias)
    cold_many, expired_many, names_many = _listing_statements(registry, initech)
    assert len(names_many) == len(names) + 5
    assert (cold_many, expired_many) == (cold, expired)
    assert expired < cold


def test_a_served_request_for_a_cached_version_reads_nothing_but_the_token(server, acme, world):
    """Whatever the request runs is token validation: the statements `authenticate` runs, or none while cached."""
    registry = server.runtime.registry
    with statements(registry) as validation:
        registry.authenticate(world.acme_token)
    request = {"model": "acme/bot@v1", "prompt": "cached", "max_tokens": 4}
    assert acme.post("/v1/completions", json=request).status_code == 200
    with statements(registry) as served:
        response = acme.post("/v1/completions", json=request)
    assert response.status_code == 200, response.text
    assert [statement for statement in served if statement not in validation] == []


def test_a_revoked_token_is_refused_within_a_second(server, world):
    import httpx

    with Registry.open(world.registry_root) as registry:
        token = registry.create_token(ADMIN, "acme", "reader", "revoked-soon")
        token_id = registry.list_tokens(ADMIN, "acme")[-1].id
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT_S) as client:
            assert client.get("/v1/models").status_code == 200
            registry.revoke_token(ADMIN, token_id)
            time.sleep(1.0)
            refused = client.get("/v1/models")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key", refused.text
