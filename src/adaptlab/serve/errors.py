"""Every refusal as an HTTP status and OpenAI's error body `{"error": {message, type, param, code}}`.
Bodies are safe to send to anyone: echoed text is truncated and encodable, and lower layers' messages
lose the server's file paths and storage URLs (the server log keeps them)."""

import re
from dataclasses import dataclass

from adaptlab.errors import AdaptlabError
from adaptlab.serve.protocol import ErrorDetail, ErrorResponse

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    409: "conflict_error",
    411: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
}


class ServeError(AdaptlabError):
    """A request the server refuses; `status` is the HTTP status, `param` the offending field if any."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = param


@dataclass(frozen=True)
class ErrorBody:
    status: int
    message: str
    code: str | None = None
    param: str | None = None

    def json(self) -> dict:
        kind = ERROR_TYPES.get(self.status, "invalid_request_error" if self.status < 500 else "server_error")
        param = None if self.param is None else echoed(self.param, MAX_PARAM_CHARS)
        detail = ErrorDetail(message=echoed(self.message, MAX_MESSAGE_CHARS), type=kind, param=param, code=self.code)
        return ErrorResponse(error=detail).model_dump()


MAX_MESSAGE_CHARS = 600
MAX_PARAM_CHARS = 80
_SERVER_PATH = re.compile(r"\b[a-z][\w+.-]*://[^\s'\"]*|(?<![\w.~-])/(?:[^\s/'\"]+/)+[^\s/'\"]*")


def echoed(text: str, max_chars: int) -> str:
    """`text` as UTF-8-safe (lone surrogates escaped) and at most `max_chars` long, marked with … where cut."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def without_server_paths(message: str) -> str:
    """Each absolute path or storage URL cut to its last part (`…/adapter_config.json`)."""
    return _SERVER_PATH.sub(lambda match: "…/" + match.group().rstrip("/").rsplit("/", 1)[-1], message)


def error_body(exc: Exception) -> ErrorBody:
    """The response for an error raised while serving a request; unknown errors are the server's fault (500)."""
    if isinstance(exc, ServeError):
        return ErrorBody(exc.status, str(exc), exc.code, exc.param)
    if isinstance(exc, AdaptlabError) and exc.http_status < 500:
        return ErrorBody(exc.http_status, without_server_paths(str(exc)), exc.error_code, exc.error_param)
    return ErrorBody(500, "internal error while serving the request; see the server log", "internal_error")


def validation_message(errors: list[dict]) -> tuple[str, str | None]:
    """(message, param) for pydantic/FastAPI validation errors: the first problem, naming its field."""
    first = errors[0]
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = ".".join(location) or None
    message = first.get("msg", "invalid request")
    if first.get("type") == "extra_forbidden":
        message = "unknown or unsupported field"
    elif first.get("type") == "json_invalid":
        return "the request body is not valid JSON", None
    return (f"{param}: {message}" if param else message) + (f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""), param
