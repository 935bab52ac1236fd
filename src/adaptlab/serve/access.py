"""Who may call the server, and the audit trail of who may not: a bearer token's principal for `/v1/`,
the operator's token for `/metrics` (when set), and every 401 and 403 written to the registry's audit
log (`serve.unauthenticated`, `serve.denied`), so refused access is as visible as granted access."""

import hmac

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from adaptlab.errors import AdaptlabError
from adaptlab.registry import Principal, local_admin
from adaptlab.registry.access import token_sha256
from adaptlab.serve.errors import ServeError
from adaptlab.serve.resolution import SERVER_PRINCIPAL
from adaptlab.serve.runtime import Runtime

TOKEN_HASH_CHARS = 16  # enough of a presented token's SHA-256 to tell repeated tries apart; never the token


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def caller_principal(runtime: Runtime, request: Request) -> Principal:
    """The principal of the request's registry token; a 401 (audited) for a missing, unknown or revoked one."""
    token = bearer_token(request)
    try:
        if token is None:
            raise ServeError(
                401, "missing bearer token: send `Authorization: Bearer <token>` (`adaptlab registry token create`)", code="missing_api_key"
            )
        return await run_in_threadpool(runtime.cached_registry.principal, token)
    except AdaptlabError as exc:
        await audit_unauthenticated(runtime, request, exc)
        raise


async def check_metrics_token(runtime: Runtime, request: Request) -> None:
    """With `metrics_token` set, `/metrics` answers only `Authorization: Bearer <that token>` (401, audited, otherwise)."""
    expected = runtime.config.metrics_token
    if expected is None:
        return
    token = bearer_token(request) or ""
    if not hmac.compare_digest(token.encode(), expected.encode()):
        refusal = ServeError(401, "/metrics needs the server's metrics token: `Authorization: Bearer <token>`", code="invalid_api_key")
        await audit_unauthenticated(runtime, request, refusal)
        raise refusal


async def audit_unauthenticated(runtime: Runtime, request: Request, refusal: Exception) -> None:
    token = bearer_token(request)
    after = {
        "reason": str(refusal),
        "client": request.client.host if request.client else None,
        "token_sha256": token_sha256(token)[:TOKEN_HASH_CHARS] if token else None,
    }
    server = local_admin(SERVER_PRINCIPAL)
    await run_in_threadpool(runtime.registry.audit_event, server, "serve.unauthenticated", request.url.path, after=after)


async def audit_denied(runtime: Runtime, caller: Principal, model: str, reason: str) -> None:
    await run_in_threadpool(runtime.registry.audit_event, caller, "serve.denied", model, after={"reason": reason})
