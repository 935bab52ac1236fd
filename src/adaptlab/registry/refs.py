"""Addresses of registered things: `tenant/name`, `tenant/name@v3`, `tenant/name@production`.

Every part is checked with a full match, so no newline, space or control character gets through.
Names are case-sensitive (`acme/Bot` is not `acme/bot`); the registry refuses to create a tenant or
model name that differs from an existing one only by case, so look-alikes never coexist."""

import re
from dataclasses import dataclass

from adaptlab.errors import ConfigError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_ALIAS = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_VERSION = re.compile(r"v([1-9][0-9]{0,8})")
_VERSION_LIKE = re.compile(r"v[0-9]+")
RESERVED_ALIASES = ("latest",)
_SHOWN_CHARS = 120


@dataclass(frozen=True)
class ModelRef:
    tenant: str
    name: str

    def __str__(self) -> str:
        return f"{self.tenant}/{self.name}"


@dataclass(frozen=True)
class VersionRef:
    """`version` or `alias` picks one version; neither means the latest version."""

    model: ModelRef
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.model}@v{self.version}"
        return f"{self.model}@{self.alias}" if self.alias else str(self.model)


def check_name(kind: str, value: str) -> str:
    """A tenant or model name: letters, digits, `.`, `_`, `-`, starting with a letter or digit."""
    if not _NAME.fullmatch(value):
        raise ConfigError(
            f"{kind} {_shown(value)} is not a valid name: use letters, digits, '.', '_' or '-' (at most 100), starting with a letter or digit"
        )
    return value


def check_alias(alias: str) -> str:
    if not _ALIAS.fullmatch(alias) or _VERSION_LIKE.fullmatch(alias) or alias in RESERVED_ALIASES:
        raise ConfigError(
            f"alias {_shown(alias)} is not valid: use lower-case letters, digits, '_' or '-', starting with a letter; "
            f"'vN' and {', '.join(RESERVED_ALIASES)} are reserved"
        )
    return alias


def parse_model_ref(text: str, default_tenant: str | None) -> ModelRef:
    """`tenant/name`, or `name` when a default tenant is known (from --tenant or the token)."""
    if "@" in text:
        raise ConfigError(f"{_shown(text)}: expected a model name without @version or @alias here")
    tenant, _, name = text.rpartition("/")
    check_name("model name", name)
    tenant = tenant or default_tenant
    if not tenant:
        raise ConfigError(f"{_shown(text)}: which tenant? write tenant/{name} or pass --tenant")
    return ModelRef(check_name("tenant", tenant), name)


def parse_version_ref(text: str, default_tenant: str | None) -> VersionRef:
    """`[tenant/]name[@vN|@alias]`."""
    model_text, at, selector = text.partition("@")
    model = parse_model_ref(model_text, default_tenant)
    if not at:
        return VersionRef(model)
    if match := _VERSION.fullmatch(selector):
        return VersionRef(model, version=int(match.group(1)))
    if selector == "latest":
        return VersionRef(model)
    return VersionRef(model, alias=check_alias(selector))


def _shown(text: str) -> str:
    """`text` quoted for a message, escapes visible, cut short (it may come from a request body)."""
    return repr(text) if len(text) <= _SHOWN_CHARS else repr(text[:_SHOWN_CHARS]) + "…"
