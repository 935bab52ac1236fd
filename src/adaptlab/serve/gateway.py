"""What every endpoint does before an engine or a classifier answers: resolve the request's `model` to what may answer
it for this caller (tenant ACL, approval rule, alias and canary arm; refusals audited) and count it against the server's
and its tenant's concurrency limits."""

from dataclasses import dataclass

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from adaptlab.objectives import TEXT_CLASSIFICATION, TEXT_GENERATION, recorded_objective
from adaptlab.registry import Principal
from adaptlab.registry.errors import AccessDeniedError
from adaptlab.serve.access import audit_denied
from adaptlab.serve.errors import ServeError
from adaptlab.serve.resolution import servable_refusal
from adaptlab.serve.runtime import Runtime

ALL_TENANTS = ""
VERSION_HEADER = "X-Adaptlab-Model-Version"
# which endpoints answer a model of each pipeline tag (a version's is its objective's; the engines generate with the base)
ENDPOINTS = {TEXT_GENERATION: "/v1/completions or /v1/chat/completions", TEXT_CLASSIFICATION: "/v1/classifications"}
BASE_PIPELINE_TAG = TEXT_GENERATION


@dataclass(frozen=True)
class Target:
    """What a request's `model` resolved to: the label in responses and metrics, the adapter to route through,
    the registry version that answers (None for the plain base) and the alias the request named (if any)."""

    label: str
    adapter: str | None
    version: str | None = None
    alias: str | None = None


async def request_target(
    runtime: Runtime, caller: Principal, model: str, request: Request, end_user: str | None, pipeline_tag: str
) -> Target:
    """The base, the merged adapter, or a servable registry version this caller's tenant owns (403 and an audit entry otherwise);
    through an alias with a canary, the end user's arm (`user`, else the token's principal). The endpoint answers models
    of `pipeline_tag`; another kind of model is a 400 that names the endpoint which answers it."""
    if runtime.merged is not None:
        merged = runtime.merged
        if model not in (runtime.config.merge, merged.ref):
            raise ServeError(
                404,
                f"this server serves only {runtime.config.merge} ({merged.ref}) merged into its base",
                code="model_not_found",
                param="model",
            )
        if caller.tenant != merged.tenant:
            await audit_denied(runtime, caller, model, f"tenant {caller.tenant!r} may not use {merged.tenant!r}'s models")
            raise AccessDeniedError(f"{caller.name} (tenant {caller.tenant!r}) may not use {model}")
        target = Target(merged.ref, None, version=merged.ref)
        check_endpoint(model, recorded_objective(merged.lineage.config).pipeline_tag, pipeline_tag)
    elif model == runtime.base_name:
        target = Target(runtime.base_name, None)
        check_endpoint(model, BASE_PIPELINE_TAG, pipeline_tag)
    else:
        try:
            route = await run_in_threadpool(runtime.cached_registry.route, caller, model, end_user or caller.name)
        except AccessDeniedError as exc:
            await audit_denied(runtime, caller, model, str(exc))
            raise
        record = route.record
        if refusal := servable_refusal(record, runtime.base, allow_unapproved=runtime.config.allow_unapproved or route.canary_candidate):
            if refusal.status == 403:  # not approved: as much an access decision as another tenant's model
                await audit_denied(runtime, caller, model, str(refusal))
            raise refusal
        check_endpoint(model, recorded_objective(record.lineage.config).pipeline_tag, pipeline_tag)
        target = Target(record.ref, record.ref, version=record.ref, alias=route.alias)
        if route.canary_arm is not None:
            request.state.canary_arm = (f"{record.ref.rsplit('@', 1)[0]}@{route.alias}", route.canary_arm)
    request.state.adapter_label = target.label
    return target


def check_endpoint(model: str, model_tag: str, endpoint_tag: str) -> None:
    """A 400 when the endpoint (answering `endpoint_tag` models) was asked for a `model_tag` model."""
    if model_tag != endpoint_tag:
        raise ServeError(
            400, f"{model} is a {model_tag} model, which this endpoint ({endpoint_tag}) does not answer; send it to {ENDPOINTS[model_tag]}",
            code="wrong_endpoint", param="model",
        )


class InFlight:
    """A request counted against the server's and its tenant's concurrency limits until `release()`; 429 when either is full."""

    def __init__(self, runtime: Runtime, tenant: str):
        config = runtime.config
        if runtime.in_flight[ALL_TENANTS] >= config.max_concurrent_requests:
            raise ServeError(
                429, f"the server is answering {config.max_concurrent_requests} requests already; retry shortly", code="server_busy"
            )
        if runtime.in_flight[tenant] >= config.max_concurrent_per_tenant:
            raise ServeError(
                429,
                f"tenant {tenant!r} has {config.max_concurrent_per_tenant} requests in flight already; retry shortly",
                code="tenant_busy",
            )
        self.counter = runtime.in_flight
        self.keys = (ALL_TENANTS, tenant)
        for key in self.keys:
            self.counter[key] += 1
        self.released = False

    def release(self) -> None:
        if not self.released:
            for key in self.keys:
                self.counter[key] -= 1
            self.released = True
