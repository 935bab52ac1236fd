"""Who may do what: principals, roles, tenant scoping and API tokens (stored only as hashes)."""

import enum
import getpass
import hashlib
import secrets
from dataclasses import dataclass

from adaptlab.registry.errors import AccessDeniedError

TOKEN_PREFIX = "adl_"


class Role(str, enum.Enum):
    reader = "reader"
    reviewer = "reviewer"
    trainer = "trainer"
    approver = "approver"
    admin = "admin"


class Action(str, enum.Enum):
    read = "read"
    register = "register"
    approve = "approve"
    promote = "promote"
    request_review = "request_review"  # create a review set
    review = "review"  # vote on a review set's items
    manage = "manage"  # gates, tokens


ALLOWED_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.reader: frozenset({Action.read}),
    Role.reviewer: frozenset({Action.read, Action.review}),
    Role.trainer: frozenset({Action.read, Action.register, Action.request_review}),
    Role.approver: frozenset({Action.read, Action.approve, Action.promote, Action.request_review, Action.review}),
    Role.admin: frozenset(Action),
}


@dataclass(frozen=True)
class Principal:
    """Someone acting on the registry. `tenant=None` only for the local administrator (all tenants)."""

    name: str
    role: Role
    tenant: str | None

    @property
    def is_global_admin(self) -> bool:
        return self.tenant is None and self.role is Role.admin


def token_principal(tenant: str, token_name: str, role: Role) -> Principal:
    """An API token's principal. Its name, recorded as actor, is tenant-qualified (`acme/rita`): no local
    name (`local:user`, `--by` names) contains '/', and token names are unique in a tenant."""
    return Principal(name=f"{tenant}/{token_name}", role=role, tenant=tenant)


def unknown_token_name(token: str) -> str:
    """How a refused, unknown token is named in the audit log: by a prefix of its hash, never the token."""
    return f"unknown-token:{token_sha256(token)[:12]}"


def local_admin(name: str | None = None) -> Principal:
    """The principal of someone with direct access to the registry's files and database."""
    return Principal(name=name or f"local:{getpass.getuser()}", role=Role.admin, tenant=None)


def require(principal: Principal, action: Action, tenant: str | None) -> None:
    """Refuse unless `principal` may do `action` in `tenant` (None: a registry-wide operation)."""
    if principal.tenant is not None and principal.tenant != tenant:
        where = f"tenant {tenant!r}" if tenant else "the whole registry"
        raise AccessDeniedError(f"{principal.name} (tenant {principal.tenant!r}) may not access {where}")
    if action not in ALLOWED_ACTIONS[principal.role]:
        allowed = ", ".join(role.value for role, actions in ALLOWED_ACTIONS.items() if action in actions)
        raise AccessDeniedError(f"{principal.name} has role {principal.role.value}; {action.value} needs one of: {allowed}")


def new_token() -> str:
    """A random API token; shown once, stored only as `token_sha256`."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
