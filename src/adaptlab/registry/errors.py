"""Registry errors a caller can act on; the serving layer maps them to HTTP statuses."""

from adaptlab.errors import AdaptlabError


class RegistryError(AdaptlabError):
    """A registry operation was refused; the message says why and what to do."""


class NotFoundError(RegistryError):
    """No such tenant, model name, version or alias (HTTP 404)."""


class AuthenticationError(RegistryError):
    """The API token is unknown or revoked (HTTP 401)."""


class AccessDeniedError(RegistryError):
    """The principal's tenant or role does not allow the operation (HTTP 403)."""


class GateRefusedError(RegistryError):
    """A promotion failed one or more gates; `failures` lists each failed gate in words (HTTP 409)."""

    def __init__(self, message: str, failures: list[str]):
        super().__init__(message)
        self.failures = failures
