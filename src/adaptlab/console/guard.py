"""Who is asking, and refusing the rest: the session cookie, the CSRF check every POST passes, and the
audit trail of refusals. A refusal by the registry's own access checks (wrong role, another tenant,
approving one's own version) or a failed CSRF check is answered 403 and recorded as `console.denied`
with the person's principal; a POST without a valid sign-in as `console.auth.denied` (registry/denials.py
aggregates repeats), the same way the CLI and the server record theirs."""

import hmac
from dataclasses import dataclass

from fastapi import Request, Response

from adaptlab.console.sessions import ConsoleSession, SessionStore
from adaptlab.registry import Principal, Registry, local_admin
from adaptlab.registry.access import token_sha256
from adaptlab.registry.errors import AccessDeniedError, AuthenticationError

SESSION_COOKIE = "adaptlab_console"
CSRF_FIELD = "csrf_token"
CONSOLE_PRINCIPAL = "console"  # who records refusals of requests without a signed-in principal
TOKEN_HASH_CHARS = 16


@dataclass(frozen=True)
class Caller:
    session: ConsoleSession
    principal: Principal


class NotSignedIn(AuthenticationError):
    """No session, an expired one, or its token was revoked since sign-in."""


def set_session_cookie(response: Response, request: Request, session: ConsoleSession, max_age_s: float) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session.id,
        max_age=int(max_age_s),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def signed_in_caller(registry: Registry, sessions: SessionStore, request: Request) -> Caller:
    """The signed-in person, their token checked again (a revoked token ends the session at once)."""
    session = sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None or not session.signed_in:
        raise NotSignedIn("sign in first: your session is missing or has expired")
    try:
        principal = registry.authenticate(session.token)
    except AuthenticationError as exc:
        sessions.end(session.id)
        raise NotSignedIn(f"signed out: {exc}") from exc
    request.state.principal = principal
    return Caller(session, principal)


def check_csrf(session: ConsoleSession, submitted: str | None) -> None:
    if not submitted or not hmac.compare_digest(submitted.encode(), session.csrf_token.encode()):
        raise AccessDeniedError("the form's CSRF token is missing or wrong: reload the page and submit it again")


def audit_refusal(registry: Registry, request: Request, refusal: Exception, presented_token: str | None = None) -> None:
    """Record a 401/403 of the console in the registry's audit log (blocking: call it on a worker thread)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    after = {"reason": str(refusal), "method": request.method, "client": request.client.host if request.client else None}
    if principal is not None:
        registry.audit_event(principal, "console.denied", request.url.path, after=after)
        return
    after["token_sha256"] = token_sha256(presented_token)[:TOKEN_HASH_CHARS] if presented_token else None
    registry.audit_event(local_admin(CONSOLE_PRINCIPAL), "console.auth.denied", request.url.path, after=after)
