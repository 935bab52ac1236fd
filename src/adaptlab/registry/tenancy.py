"""Tenants and API tokens: who may act on the registry, and authenticating a token to its principal."""

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from adaptlab.registry.access import Action, Principal, Role, new_token, require, token_sha256
from adaptlab.registry.entities import TokenRecord
from adaptlab.registry.errors import AuthenticationError, NotFoundError, RegistryError
from adaptlab.registry.refs import check_name
from adaptlab.registry.store import RegistryStore, now, tenant_row
from adaptlab.registry.tables import ApiToken, Tenant


class Tenancy(RegistryStore):
    def create_tenant(self, principal: Principal, name: str) -> None:
        require(principal, Action.manage, None)
        check_name("tenant", name)
        with self._writing() as tx:
            if tx.session.scalar(select(Tenant).where(Tenant.name == name)):
                raise RegistryError(f"tenant {name!r} already exists")
            tx.session.add(Tenant(name=name, created_at=now(), created_by=principal.name))
            tx.audit(principal.name, name, "tenant.create", name, after={"tenant": name})

    def list_tenants(self, principal: Principal) -> list[str]:
        with self._reading() as session:
            names = session.scalars(select(Tenant.name).order_by(Tenant.name)).all()
        return [name for name in names if principal.tenant in (None, name)]

    def create_token(self, principal: Principal, tenant: str, role: Role | str, name: str) -> str:
        """A new API token for `name` acting as `role` in `tenant`; the token is returned once and stored hashed."""
        role = Role(role)
        require(principal, Action.manage, tenant)
        check_name("token name", name)
        token = new_token()
        with self._writing() as tx:
            row = ApiToken(
                token_sha256=token_sha256(token),
                name=name,
                role=role.value,
                tenant=tenant_row(tx.session, tenant),
                created_at=now(),
                created_by=principal.name,
            )
            tx.session.add(row)
            tx.session.flush()
            tx.audit(
                principal.name, tenant, "token.create", f"token:{row.id}", after={"token_id": row.id, "name": name, "role": role.value}
            )
        return token

    def list_tokens(self, principal: Principal, tenant: str) -> list[TokenRecord]:
        require(principal, Action.manage, tenant)
        with self._reading() as session:
            owner = tenant_row(session, tenant)
            rows = session.scalars(select(ApiToken).where(ApiToken.tenant_id == owner.id).order_by(ApiToken.id))
            return [row.to_entity() for row in rows]

    def revoke_token(self, principal: Principal, token_id: int) -> None:
        with self._writing() as tx:
            row = tx.session.get(ApiToken, token_id, options=[joinedload(ApiToken.tenant)])
            if row is None:
                raise NotFoundError(f"no API token with id {token_id}; list them with `adaptlab registry token list --tenant T`")
            require(principal, Action.manage, row.tenant.name)
            if row.revoked_at is None:
                row.revoked_at = now()
                tx.audit(
                    principal.name, row.tenant.name, "token.revoke", f"token:{row.id}", before={"revoked": False}, after={"revoked": True}
                )

    def authenticate(self, token: str) -> Principal:
        with self._reading() as session:
            row = session.scalar(
                select(ApiToken).where(ApiToken.token_sha256 == token_sha256(token)).options(joinedload(ApiToken.tenant))
            )
            if row is None or row.revoked_at is not None:
                raise AuthenticationError("unknown or revoked API token; ask a tenant admin for one (`adaptlab registry token create`)")
            return Principal(name=row.name, role=Role(row.role), tenant=row.tenant.name)
