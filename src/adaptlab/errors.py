"""Errors a user can cause. The CLI prints their message (never a stack trace) and exits non-zero."""


class AdaptlabError(Exception):
    """Base class: the message says what went wrong and what to do about it."""

    exit_code = 2
    # How the HTTP edge reports it: status, OpenAI-style error code, and the request field it concerns.
    http_status = 500
    error_code: str | None = "internal_error"
    error_param: str | None = None


class ConfigError(AdaptlabError):
    """A config file, flag or field is invalid; the message names the key."""

    http_status, error_code, error_param = 400, "invalid_model", "model"


class DataError(AdaptlabError):
    """Training or evaluation data is unreadable or has too many bad rows; the message names file:line."""


class ModelLoadError(AdaptlabError):
    """A model or tokenizer could not be resolved or loaded."""


class ArtifactError(AdaptlabError):
    """A saved artifact (adapter, checkpoint, registry blob) is missing, corrupt or unsafe to load."""

    http_status, error_code, error_param = 409, "model_not_servable", "model"


class CompatibilityError(AdaptlabError):
    """Two artifacts do not fit together (adapter vs base model, adapters vs each other)."""

    http_status, error_code, error_param = 409, "model_not_servable", "model"
