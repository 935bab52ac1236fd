"""Registry errors a caller can act on; each carries the HTTP status the serving layer answers with."""

from adaptlab.errors import AdaptlabError


class RegistryError(AdaptlabError):
    """A registry operation was refused; the message says why and what to do."""

    http_status, error_code = 409, "registry_conflict"


class NotFoundError(RegistryError):
    """No such tenant, model name, version or alias."""

    http_status, error_code, error_param = 404, "model_not_found", "model"


class AuthenticationError(RegistryError):
    """The API token is unknown or revoked."""

    http_status, error_code = 401, "invalid_api_key"


class AccessDeniedError(RegistryError):
    """The principal's tenant or role does not allow the operation."""

    http_status, error_code, error_param = 403, "model_access_denied", "model"


class GateRefusedError(RegistryError):
    """A promotion failed one or more gates; `failures` lists each failed gate in words."""

    http_status, error_code = 409, "gate_refused"

    def __init__(self, message: str, failures: list[str]):
        super().__init__(message)
        self.failures = failures


class AuditedDenialError(AccessDeniedError):
    """An access refusal the service has already recorded in the audit log (callers do not record it again)."""
class CompletionNotFoundError(NotFoundError):
    """No completion with that id in the caller's tenant (another tenant's reads the same: nothing leaks)."""

    error_code, error_param = "completion_not_found", "completion_id"


class FeedbackExistsError(RegistryError):
    """The completion has been rated already; a rating is never overwritten."""

    error_code, error_param = "feedback_exists", "completion_id"


class InvalidFeedbackError(RegistryError):
    """A rating's score or comment is out of bounds."""

    http_status, error_code, error_param = 400, "invalid_feedback", "score"
