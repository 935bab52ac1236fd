"""Addresses of registered things: `tenant/name`, `tenant/name@v3`, `tenant/name@production`."""

import re
from dataclasses import dataclass

from adaptlab.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_VERSION = re.compile(r"^v([1-9][0-9]*)$")
_VERSION_LIKE = re.compile(r"^v[0-9]+$")
RESERVED_ALIASES = ("latest",)


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
    if not _NAME.match(value):
        raise ConfigError(
            f"{kind} {value!r} is not a valid name: use letters, digits, '.', '_' or '-' (at most 100), starting with a letter or digit"
        )
    return value


def check_alias(alias: str) -> str:
    if not _ALIAS.match(alias) or _VERSION_LIKE.match(alias) or alias in RESERVED_ALIASES:
        raise ConfigError(
            f"alias {alias!r} is not valid: use lower-case letters, digits, '_' or '-', starting with a letter; "
            f"'vN' and {', '.join(RESERVED_ALIASES)} are reserved"
        )
    return alias


def parse_model_ref(text: str, default_tenant: str | None) -> ModelRef:
    """`tenant/name`, or `name` when a default tenant is known (from --tenant or the token)."""
    if "@" in text:
        raise ConfigError(f"{text!r}: expected a model name without @version or @alias here")
    tenant, _, name = text.rpartition("/")
    tenant = tenant or default_tenant
    if not tenant:
        raise ConfigError(f"{text!r}: which tenant? write tenant/{text} or pass --tenant")
    return ModelRef(check_name("tenant", tenant), check_name("model name", name))


def parse_version_ref(text: str, default_tenant: str | None) -> VersionRef:
    """`[tenant/]name[@vN|@alias]`."""
    model_text, at, selector = text.partition("@")
    model = parse_model_ref(model_text, default_tenant)
    if not at:
        return VersionRef(model)
    if match := _VERSION.match(selector):
        return VersionRef(model, version=int(match.group(1)))
    if selector == "latest":
        return VersionRef(model)
    return VersionRef(model, alias=check_alias(selector))
