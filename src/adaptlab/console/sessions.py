"""Server-side sessions: a random id in an HttpOnly, SameSite=Strict cookie (Secure over HTTPS) names a
session held only in this process's memory; it carries the person's registry token (never sent back to
the browser) and the per-session CSRF token every form posts back. Sign-ins expire after a fixed time.

A sign-in form gets a short-lived anonymous session of its own, so the sign-in POST is CSRF-checked too,
and signing in replaces it with a new id (no session fixation). Both kinds are bounded (cachetools TTL
caches: expired or least recently used sessions go first)."""

import secrets
import threading
from dataclasses import dataclass

from cachetools import TTLCache

SIGN_IN_FORM_TTL_S = 600
SESSION_ID_BYTES = 32


@dataclass(frozen=True)
class ConsoleSession:
    id: str
    csrf_token: str
    token: str | None = None  # the registry API token once signed in; None for a sign-in form's session

    @property
    def signed_in(self) -> bool:
        return self.token is not None


class SessionStore:
    """Thread-safe: FastAPI runs the console's handlers on a thread pool."""

    def __init__(self, ttl_s: float, max_sessions: int):
        self._signed_in: TTLCache[str, ConsoleSession] = TTLCache(max_sessions, ttl_s)
        self._signing_in: TTLCache[str, ConsoleSession] = TTLCache(max_sessions, SIGN_IN_FORM_TTL_S)
        self._lock = threading.Lock()

    def start_sign_in(self) -> ConsoleSession:
        """An anonymous session for one sign-in form: it holds the form's CSRF token."""
        return self._add(self._signing_in, ConsoleSession(_random_id(), _random_id()))

    def sign_in(self, previous: ConsoleSession, token: str) -> ConsoleSession:
        """A new session (new id, new CSRF token) for `token`; the sign-in form's session ends."""
        self.end(previous.id)
        return self._add(self._signed_in, ConsoleSession(_random_id(), _random_id(), token))

    def get(self, session_id: str | None) -> ConsoleSession | None:
        if not session_id:
            return None
        with self._lock:
            return self._signed_in.get(session_id) or self._signing_in.get(session_id)

    def end(self, session_id: str) -> None:
        with self._lock:
            self._signed_in.pop(session_id, None)
            self._signing_in.pop(session_id, None)

    def _add(self, cache: TTLCache, session: ConsoleSession) -> ConsoleSession:
        with self._lock:
            cache[session.id] = session
        return session


def _random_id() -> str:
    return secrets.token_urlsafe(SESSION_ID_BYTES)
