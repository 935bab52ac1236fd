"""The console's routes: sign in and out, models, a version (with approve / promote / roll back), its
attached reports, and the audit log. Pages are rendered on the server (Jinja2); every change is a POST
form that carries the session's CSRF token and is decided by the registry's own access checks."""

import tempfile
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.background import BackgroundTask

from adaptlab.console import views
from adaptlab.console.config import ConsoleConfig
from adaptlab.console.guard import (
    CSRF_FIELD,
    SESSION_COOKIE,
    Caller,
    NotSignedIn,
    audit_refusal,
    check_csrf,
    set_session_cookie,
    signed_in_caller,
)
from adaptlab.console.review_pages import add_review_routes
from adaptlab.console.sessions import SessionStore
from adaptlab.errors import AdaptlabError, ConfigError
from adaptlab.registry import Registry
from adaptlab.registry.access import Action
from adaptlab.registry.entities import VersionRecord
from adaptlab.registry.gates import GateCheck, GatePolicy
from adaptlab.registry.errors import AccessDeniedError, AuditedDenialError, AuthenticationError, GateRefusedError

HERE = Path(__file__).parent
PAGE_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# An attached report is someone's HTML: shown only in a sandboxed frame (no scripts, no same-origin), loading nothing.
REPORT_SECURITY_HEADERS = PAGE_SECURITY_HEADERS | {
    "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'",
}
REPORT_MEDIA_TYPES = {".html": "text/html", ".md": "text/markdown", ".json": "application/json"}
SAFE_HTTP_METHODS = frozenset({"GET", "HEAD"})  # a signed-out page view is sent to the sign-in form; a POST is refused
DONE_MESSAGES = {"approve": "Approval recorded.", "promote": "Alias moved.", "rollback": "Alias rolled back.", "unchanged": "Nothing changed."}


def create_console_app(registry: Registry, config: ConsoleConfig) -> FastAPI:
    app = FastAPI(title="adaptlab console", docs_url=None, redoc_url=None, openapi_url=None)
    sessions = SessionStore(config.session_ttl_s, config.max_sessions)
    templates = Jinja2Templates(directory=HERE / "templates")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def caller(request: Request) -> Caller:
        return signed_in_caller(registry, sessions, request)

    def poster(who: Annotated[Caller, Depends(caller)], csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "") -> Caller:
        """A signed-in caller whose form carries the session's CSRF token."""
        check_csrf(who.session, csrf_token)
        return who

    def page(request: Request, who: Caller | None, template: str, status_code: int = 200, **context) -> Response:
        context |= {
            "principal": who.principal if who else None,
            "may_review": bool(who) and views.may(who.principal, Action.review),
            "csrf_field": CSRF_FIELD,
            "csrf_token": who.session.csrf_token if who else "",
        }
        return templates.TemplateResponse(request, template, context, status_code=status_code)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in PAGE_SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(AdaptlabError)
    async def refused(request: Request, exc: AdaptlabError) -> Response:
        if isinstance(exc, NotSignedIn) and request.method in SAFE_HTTP_METHODS:
            return RedirectResponse("/signin", status_code=303)
        if isinstance(exc, (AccessDeniedError, AuthenticationError)) and not isinstance(exc, AuditedDenialError):
            await run_in_threadpool(audit_refusal, registry, request, exc)  # the registry records its own AuditedDenialErrors
        status = 403 if isinstance(exc, NotSignedIn) else exc.http_status
        failures = exc.failures if isinstance(exc, GateRefusedError) else []
        who = None
        if principal := getattr(request.state, "principal", None):
            session = sessions.get(request.cookies.get(SESSION_COOKIE))
            who = Caller(session, principal) if session else None
        return page(request, who, "error.html.jinja", status_code=status, message=str(exc), failures=failures, status=status)

    # --- signing in and out ------------------------------------------------------------------

    @app.get("/")
    def home() -> Response:
        return RedirectResponse("/models", status_code=303)

    @app.get("/signin")
    def sign_in_form(request: Request) -> Response:
        form_session = sessions.start_sign_in()
        response = page(request, None, "signin.html.jinja", sign_in_csrf=form_session.csrf_token)
        set_session_cookie(response, request, form_session, config.session_ttl_s)
        return response

    @app.post("/signin")
    def sign_in(
        request: Request, token: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = ""
    ) -> Response:
        form_session = sessions.get(request.cookies.get(SESSION_COOKIE))
        if form_session is None or form_session.signed_in:
            raise NotSignedIn("the sign-in form has expired: open /signin again")
        check_csrf(form_session, csrf_token)
        try:
            registry.authenticate(token.strip())
        except AuthenticationError as exc:
            audit_refusal(registry, request, exc, presented_token=token.strip())
            return page(request, None, "signin.html.jinja", status_code=401, sign_in_csrf=form_session.csrf_token, message=str(exc))
        response = RedirectResponse("/models", status_code=303)
        set_session_cookie(response, request, sessions.sign_in(form_session, token.strip()), config.session_ttl_s)
        return response

    @app.post("/signout")
    def sign_out(who: Annotated[Caller, Depends(poster)]) -> Response:
        sessions.end(who.session.id)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    def checks_of(who: Caller, policy: GatePolicy, record: VersionRecord) -> list[GateCheck]:
        return views.version_gate_checks(policy, record, registry.candidate_review(who.principal, record.ref))

    # --- models and versions -------------------------------------------------------------------

    @app.get("/models")
    def models(request: Request, who: Annotated[Caller, Depends(caller)]) -> Response:
        return page(request, who, "models.html.jinja", models=registry.list_models(who.principal))

    @app.get("/models/{name}")
    def model(request: Request, name: str, who: Annotated[Caller, Depends(caller)]) -> Response:
        policy = registry.get_gates(who.principal, name)
        versions = registry.list_versions(who.principal, name)
        return page(
            request,
            who,
            "model.html.jinja",
            name=name,
            tenant=who.principal.tenant,
            policy=policy,
            versions=[(version, checks_of(who, policy, version)) for version in reversed(versions)],
            history=registry.alias_history(who.principal, name),
            current_aliases=sorted({alias for version in versions for alias in version.aliases}),
            may_promote=views.may(who.principal, Action.promote),
        )

    @app.get("/models/{name}/versions/{version}")
    def version_page(
        request: Request, name: str, version: int, who: Annotated[Caller, Depends(caller)], done: str | None = None
    ) -> Response:
        ref = f"{name}@v{version}"
        record = registry.get_version(who.principal, ref)
        policy = registry.get_gates(who.principal, name)
        reviews = [
            (progress, registry.review_results(who.principal, progress.review.review_id))
            for progress in registry.list_reviews(who.principal, ref=ref)
        ]
        return page(
            request,
            who,
            "version.html.jinja",
            record=record,
            policy=policy,
            checks=checks_of(who, policy, record),
            reviews=reviews,
            metrics=views.metric_rows(record),
            card=views.render_card(registry.card(who.principal, ref)),
            reports=registry.reports(who.principal, ref),
            model_aliases=sorted({event.alias for event in registry.alias_history(who.principal, name)}),
            may_approve=views.may(who.principal, Action.approve),
            may_promote=views.may(who.principal, Action.promote),
            done=DONE_MESSAGES.get(done or ""),
        )

    @app.post("/models/{name}/versions/{version}/approve")
    def approve(name: str, version: int, who: Annotated[Caller, Depends(poster)], note: Annotated[str, Form()] = "") -> Response:
        registry.approve(who.principal, f"{name}@v{version}", _required_note(note))
        return _back_to_version(name, version, "approve")

    @app.post("/models/{name}/versions/{version}/promote")
    def promote(
        name: str, version: int, who: Annotated[Caller, Depends(poster)], alias: Annotated[str, Form()] = "", note: Annotated[str, Form()] = ""
    ) -> Response:
        change = registry.promote(who.principal, f"{name}@v{version}", alias.strip(), note=_required_note(note))
        return _back_to_version(name, version, "promote" if change.changed else "unchanged")

    @app.post("/models/{name}/rollback")
    def rollback(
        name: str, who: Annotated[Caller, Depends(poster)], alias: Annotated[str, Form()] = "", note: Annotated[str, Form()] = ""
    ) -> Response:
        change = registry.rollback(who.principal, name, alias.strip(), note=_required_note(note))
        return _back_to_version(name, change.to_version, "rollback")

    @app.get("/models/{name}/versions/{version}/reports/{attachment_id}/{path}")
    def report_file(name: str, version: int, attachment_id: int, path: str, who: Annotated[Caller, Depends(caller)]) -> Response:
        scratch = tempfile.TemporaryDirectory(prefix="adaptlab-console-")
        destination = Path(scratch.name) / "report"
        try:
            registry.fetch_report_file(who.principal, f"{name}@v{version}", attachment_id, path, destination)
        except BaseException:
            scratch.cleanup()
            raise
        media_type = REPORT_MEDIA_TYPES.get(Path(path).suffix, "application/octet-stream")
        return FileResponse(destination, media_type=media_type, headers=REPORT_SECURITY_HEADERS, background=BackgroundTask(scratch.cleanup))

    add_review_routes(app, registry, caller, poster, page)

    # --- audit log -----------------------------------------------------------------------------

    @app.get("/audit")
    def audit(
        request: Request,
        who: Annotated[Caller, Depends(caller)],
        actor: str = "",
        action: str = "",
        model: str = "",
        page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
    ) -> Response:
        size = config.audit_page_size
        model_filter = f"{who.principal.tenant}/{model}" if model and "/" not in model else model
        entries = registry.audit_page(
            who.principal, actor=actor or None, action=action or None, model=model_filter or None, offset=(page_number - 1) * size, limit=size
        )
        verification = registry.verify_audit(who.principal) if views.may(who.principal, Action.manage) else None
        filters = {"actor": actor, "action": action, "model": model}

        def page_link(number: int) -> str:
            return "/audit?" + urlencode({**{k: v for k, v in filters.items() if v}, "page": number})

        return page(
            request,
            who,
            "audit.html.jinja",
            entries=entries,
            filters=filters,
            page_number=page_number,
            pages=max(1, -(-entries.total // size)),
            page_link=page_link,
            verification=verification,
        )

    return app


def _required_note(note: str) -> str:
    if not note.strip():
        raise ConfigError("note: say what you checked and why (it is recorded in the audit log)")
    return note.strip()


def _back_to_version(name: str, version: int, done: str) -> Response:
    return RedirectResponse(f"/models/{name}/versions/{version}?done={done}", status_code=303)
