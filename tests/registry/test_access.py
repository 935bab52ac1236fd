"""Tenants and tokens: tokens are stored hashed, scoped to one tenant and one role; other tenants are refused."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from adaptlab.registry import Principal, Role
from adaptlab.registry.errors import AccessDeniedError, AuthenticationError, RegistryError
from adaptlab.registry.tables import ApiToken


@pytest.fixture
def two_tenants(registry, admin, new_run):
    for tenant in ("acme", "globex"):
        registry.create_tenant(admin, tenant)
        registry.register(admin, new_run(), f"{tenant}/bot")
    return registry


def _principal(registry, admin, tenant: str, role: Role, name: str) -> Principal:
    return registry.authenticate(registry.create_token(admin, tenant, role, name))


def test_tokens_are_stored_only_as_hashes(two_tenants, admin):
    token = two_tenants.create_token(admin, "acme", Role.reader, "rita")
    assert token.startswith("adl_") and len(token) > 40
    with Session(two_tenants.engine) as session:
        stored = session.scalars(select(ApiToken)).all()
    assert len(stored) == 1
    row = stored[0]
    assert token not in {row.token_sha256, row.name, row.role}
    assert len(row.token_sha256) == 64
    assert two_tenants.authenticate(token) == Principal("rita", Role.reader, "acme")
    assert all("adl_" not in str(entry.after) for entry in two_tenants.audit_entries(admin))


def test_unknown_and_revoked_tokens_are_refused(two_tenants, admin):
    token = two_tenants.create_token(admin, "acme", Role.reader, "rita")
    with pytest.raises(AuthenticationError, match="unknown or revoked"):
        two_tenants.authenticate(token + "x")
    token_id = two_tenants.list_tokens(admin, "acme")[0].id
    two_tenants.revoke_token(admin, token_id)
    with pytest.raises(AuthenticationError):
        two_tenants.authenticate(token)
    assert two_tenants.list_tokens(admin, "acme")[0].revoked_at is not None


@pytest.mark.parametrize("role", [Role.reader, Role.trainer, Role.approver, Role.admin])
def test_access_from_another_tenant_is_refused(two_tenants, admin, new_run, role):
    outsider = _principal(two_tenants, admin, "globex", role, "gus")
    calls = [
        lambda: two_tenants.get_version(outsider, "acme/bot@v1"),
        lambda: two_tenants.checkout(outsider, "acme/bot@v1"),
        lambda: two_tenants.list_models(outsider, "acme"),
        lambda: two_tenants.list_versions(outsider, "acme/bot"),
        lambda: two_tenants.lineage(outsider, "acme/bot@v1"),
        lambda: two_tenants.card(outsider, "acme/bot@v1"),
        lambda: two_tenants.register(outsider, new_run(), "acme/bot"),
        lambda: two_tenants.approve(outsider, "acme/bot@v1", "x"),
        lambda: two_tenants.promote(outsider, "acme/bot@v1", "production"),
        lambda: two_tenants.rollback(outsider, "acme/bot", "production"),
        lambda: two_tenants.audit_entries(outsider, tenant="acme"),
        lambda: two_tenants.create_token(outsider, "acme", Role.admin, "sneaky"),
        lambda: two_tenants.export_bundle(outsider, "acme/bot@v1", two_tenants.checkout_dir / "stolen.tar"),
    ]
    for call in calls:
        with pytest.raises(AccessDeniedError, match="tenant 'globex'.*may not access tenant 'acme'"):
            call()
    assert two_tenants.list_versions(admin, "acme/bot")[-1].version == 1


def test_roles_limit_actions_within_a_tenant(two_tenants, admin, new_run):
    reader = _principal(two_tenants, admin, "acme", Role.reader, "rita")
    trainer = _principal(two_tenants, admin, "acme", Role.trainer, "tom")
    approver = _principal(two_tenants, admin, "acme", Role.approver, "alma")
    tenant_admin = _principal(two_tenants, admin, "acme", Role.admin, "ada")

    assert two_tenants.get_version(reader, "bot").version == 1
    with pytest.raises(AccessDeniedError, match="role reader; register needs one of: trainer, admin"):
        two_tenants.register(reader, new_run(), "bot")
    assert two_tenants.register(trainer, new_run(), "bot").created_by == "tom"
    with pytest.raises(AccessDeniedError, match="role trainer; promote needs one of: approver, admin"):
        two_tenants.promote(trainer, "bot@v2", "production")
    with pytest.raises(AccessDeniedError, match="role approver; manage"):
        two_tenants.create_token(approver, "acme", Role.admin, "escalate")
    two_tenants.approve(approver, "bot@v2", "ok")
    assert two_tenants.promote(approver, "bot@v2", "production").changed
    assert two_tenants.create_token(tenant_admin, "acme", Role.reader, "new-reader").startswith("adl_")
    with pytest.raises(AccessDeniedError, match="the whole registry"):
        two_tenants.create_tenant(tenant_admin, "initech")
    with pytest.raises(AccessDeniedError):
        two_tenants.gc(tenant_admin)


def test_tenant_principals_see_only_their_tenant(two_tenants, admin):
    reader = _principal(two_tenants, admin, "acme", Role.reader, "rita")
    assert [m.tenant for m in two_tenants.list_models(reader)] == ["acme"]
    assert {m.tenant for m in two_tenants.list_models(admin)} == {"acme", "globex"}
    assert two_tenants.list_tenants(reader) == ["acme"]
    assert {e.tenant for e in two_tenants.audit_entries(reader)} == {"acme"}
    with pytest.raises(AccessDeniedError):
        two_tenants.verify_audit(reader)
    tenant_admin = _principal(two_tenants, admin, "acme", Role.admin, "ada")
    assert two_tenants.verify_audit(tenant_admin).ok


def test_same_model_name_in_two_tenants_is_two_models(two_tenants, admin, new_run):
    two_tenants.register(admin, new_run(), "globex/bot")
    assert two_tenants.get_version(admin, "acme/bot").version == 1
    assert two_tenants.get_version(admin, "globex/bot").version == 2


def test_tenant_names_are_unique_and_checked(two_tenants, admin):
    from adaptlab.errors import ConfigError

    with pytest.raises(RegistryError, match="already exists"):
        two_tenants.create_tenant(admin, "acme")
    with pytest.raises(ConfigError, match="not a valid name"):
        two_tenants.create_tenant(admin, "bad/name")
