"""What a request's token and `model` name mean, read from the registry once and then kept: a token's
principal for under a second (a revocation takes effect within it), an approved `@vN` record for as
long as the server runs (its files, base and approvals never change), anything an alias, its canary or
the latest version decides for `alias_ttl_s`. An alias with a canary answers each end user with their
arm's version (registry.canary_assignment). Plus the one check of whether a version may be served here."""

import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from cachetools import Cache, TLRUCache, TTLCache

from adaptlab.models import ResolvedModel
from adaptlab.registry import Principal, Registry, VersionRecord, local_admin
from adaptlab.registry.access import Action, require, token_sha256
from adaptlab.registry.refs import parse_version_ref
from adaptlab.serve.errors import ServeError

SERVER_PRINCIPAL = "adaptlab-serve"
TOKEN_TTL_S = 0.5  # under a second: a revoked token stops working within it
MAX_CACHED = 4096  # entries per cache (tokens, versions, tenants' model lists); least recently used go first


def servable_refusal(record: VersionRecord, base: ResolvedModel, *, allow_unapproved: bool) -> ServeError | None:
    """Why a server on `base` may not serve `record` (None if it may): it must be an adapter trained on these exact
    weights, and approved or the target of an alias (promotion passes the model's gates) unless `allow_unapproved`."""
    if not record.is_adapter:
        return ServeError(
            409,
            f"{record.ref} is a full model, not an adapter; serve it on its own with `adaptlab serve --model`",
            code="model_not_servable",
            param="model",
        )
    if record.base_weights_sha256 != base.weights_sha256:
        trained_on = record.base_model_id if record.lineage.base_version is None else f"the fine-tuned base {record.lineage.base_version}"
        return ServeError(
            409,
            f"{record.ref} was trained on {trained_on} (weights sha256 {record.base_weights_sha256[:12]}), "
            f"but this server's base is {base.model_id} ({base.weights_sha256[:12]}); serve it with --model set to that base",
            code="model_not_servable",
            param="model",
        )
    if not (allow_unapproved or record.approvals or record.aliases):
        return ServeError(
            403,
            f"{record.ref} has no approval and no alias; this server serves only approved versions "
            f"(`adaptlab registry approve {record.ref}` or promote it; a development server may pass --allow-unapproved)",
            code="version_not_approved",
            param="model",
        )
    return None


@dataclass(frozen=True)
class Route:
    """The version that answers one end user's request, and the alias the request named (if any).
    `canary_arm`: through an alias with a canary, "candidate" (a version that passed the alias's gates to get
    there) or "stable"; None without a canary."""

    record: VersionRecord
    alias: str | None = None
    canary_arm: str | None = None

    @property
    def canary_candidate(self) -> bool:
        return self.canary_arm == "candidate"


class CachedRegistry:
    """The registry reads every request makes, each done once per cache lifetime. Thread-safe: the
    caches are guarded by one lock, held only around the dictionary operations, never a database read."""

    def __init__(self, registry: Registry, *, alias_ttl_s: float, timer: Callable[[], float] = time.monotonic):
        self.registry = registry
        self.reader = local_admin(SERVER_PRINCIPAL)  # tenancy is checked with the caller's principal first
        self.alias_ttl_s = alias_ttl_s
        self._lock = threading.Lock()
        self._principals = TTLCache(MAX_CACHED, TOKEN_TTL_S, timer)
        self._versions = TLRUCache(MAX_CACHED, self._version_expiry, timer)
        self._models = TTLCache(MAX_CACHED, alias_ttl_s, timer)
        self._splits = TTLCache(MAX_CACHED, alias_ttl_s, timer)

    def principal(self, token: str) -> Principal:
        """The token's principal; an unknown or revoked token raises AuthenticationError (401), which is not cached."""
        return self._cached(self._principals, token_sha256(token), lambda: self.registry.authenticate(token))

    def version(self, caller: Principal, model: str) -> VersionRecord:
        """The version `model` (`[tenant/]name[@vN|@alias]`) names now for the caller; AccessDeniedError outside its tenant."""
        return self.route(caller, model, caller.name).record

    def route(self, caller: Principal, model: str, end_user: str) -> Route:
        """The version that answers `end_user` when `model` is requested: through an alias with a canary, the
        user's arm (the same one every time); AccessDeniedError outside the caller's tenant."""
        ref = parse_version_ref(model, caller.tenant)
        require(caller, Action.read, ref.model.tenant)
        if ref.alias is None:
            return Route(self._record(str(ref)))
        (split,) = self._cached(self._splits, str(ref), lambda: (self.registry.canary_split(self.reader, str(ref)),))
        if split is None:
            return Route(self._record(str(ref)), ref.alias)
        arm = split.arm_ref(end_user)
        return Route(self._record(arm), ref.alias, canary_arm="candidate" if arm == split.candidate_ref else "stable")

    def listed_versions(self, caller: Principal) -> list[tuple[str, VersionRecord]]:
        """(name, version) for every alias and latest version of the caller's tenant's models (none for a model
        that has gates but no versions yet)."""
        require(caller, Action.read, caller.tenant)
        summaries = self._cached(self._models, caller.tenant, lambda: self.registry.list_models(caller))
        listed = []
        for summary in summaries:
            model = f"{summary.tenant}/{summary.name}"
            named = {f"{model}@{alias}": version for alias, version in sorted(summary.aliases.items())}
            if summary.latest_version:
                named[f"{model}@v{summary.latest_version}"] = summary.latest_version
            listed += [(name, self._record(f"{model}@v{version}")) for name, version in named.items()]
        return listed

    def _record(self, ref: str) -> VersionRecord:
        return self._cached(self._versions, ref, lambda: self.registry.get_version(self.reader, ref))

    def _version_expiry(self, ref: str, record: VersionRecord, now: float) -> float:
        """An approved version named by its number is final; an alias, the latest version and approval by
        alias alone can change, so they are read again after `alias_ttl_s`."""
        return math.inf if ref == record.ref and record.approvals else now + self.alias_ttl_s

    def _cached(self, cache: Cache, key: Hashable, read: Callable[[], object]):
        with self._lock:
            value = cache.get(key)
        if value is None:
            value = read()
            with self._lock:
                cache[key] = value
        return value
