"""OpenAI-compatible request and response bodies. Unknown fields are refused (HTTP 400 naming the
field) rather than silently ignored, so a client never believes an unsupported option took effect;
types are strict (`"max_tokens": "5"` or `true` is a 400, not 5 or 1)."""

from http import HTTPStatus
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
)

from adaptlab.registry.errors import InvalidFeedbackError
from adaptlab.registry.feedback import MAX_COMMENT_CHARS, check_score

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _encodable(text: str) -> str:
    """Refuse a lone surrogate (JSON's `"\\ud800"`): it cannot be tokenized, stored or echoed back as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"contains an unpaired surrogate at character {exc.start}; send valid Unicode text") from None
    return text


Text = Annotated[StrictStr, AfterValidator(_encodable)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StreamOptions(_Strict):
    include_usage: StrictBool = Field(default=False, description="send a last chunk with token usage")


class _SamplingRequest(_Strict):
    model: Text = Field(min_length=1, description="the base model's name, or tenant/name@alias|vN from the registry")
    max_tokens: StrictInt | None = Field(default=None, ge=1, description="most new tokens (server default and limit apply)")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="0 decodes greedily")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, description="nucleus sampling mass (with temperature > 0)")
    seed: StrictInt | None = Field(
        default=None, ge=INT64_MIN, le=INT64_MAX, description="sampling seed (a signed 64-bit integer), for reproducible samples"
    )
    n: StrictInt = Field(default=1, ge=1, le=1, description="only one choice per request is supported")
    stream: StrictBool = Field(default=False, description="answer as server-sent events")
    stream_options: StreamOptions | None = None
    user: Text | None = Field(
        default=None,
        description="end-user id: through an alias with a canary it picks the user's arm, the same every time "
        "(default: the token's); never stored",
    )


class CompletionRequest(_SamplingRequest):
    prompt: Text = Field(description="the text to continue")


class ChatMessage(_Strict):
    role: Literal["system", "user", "assistant"]
    content: Text


class ChatCompletionRequest(_SamplingRequest):
    messages: list[ChatMessage] = Field(min_length=1, description="the conversation so far")
    max_completion_tokens: StrictInt | None = Field(default=None, ge=1, description="newer name of max_tokens")

    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


FinishReason = Literal["stop", "length"]


class CompletionChoice(BaseModel):
    index: int = 0
    text: str
    finish_reason: FinishReason | None
    logprobs: None = None


class CompletionResponse(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str = Field(description="the exact version that answered: tenant/name@vN, or the base model's name")
    system_fingerprint: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: FinishReason | None


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChatChoice]
    usage: Usage


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChatChunkChoice(BaseModel):
    index: int = 0
    delta: ChatDelta
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = None


class ModelCard(BaseModel):
    id: str = Field(description="what to put in a request's `model`")
    object: Literal["model"] = "model"
    created: int
    owned_by: str = Field(description="tenant, or 'adaptlab' for the base")
    parent: str | None = Field(description="the base model an adapter runs on")
    root: str = Field(description="the version this id resolves to now")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def _rating(score: float) -> float:
    try:
        return check_score(score)
    except InvalidFeedbackError as exc:
        raise ValueError(str(exc)) from None


def _storable(text: str) -> str:
    """Refuse NUL, which no database text column stores."""
    if "\x00" in text:
        raise ValueError("contains a NUL character")
    return text


class FeedbackRequest(_Strict):
    completion_id: StrictStr = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="the `id` of a completion this server returned to your tenant"
    )
    score: Annotated[float, AfterValidator(_rating)] = Field(
        ge=-1, le=1, allow_inf_nan=False, description="-1, 0 or 1 (thumbs down, neutral, up), or a number in [0, 1]"
    )
    comment: Annotated[Text, AfterValidator(_storable)] | None = Field(
        default=None, max_length=MAX_COMMENT_CHARS, description="optional, kept with the rating"
    )


class FeedbackResponse(BaseModel):
    object: Literal["feedback"] = "feedback"
    completion_id: str
    model: str = Field(description="the version (tenant/name@vN), or base model, that produced the completion")
    score: float
    comment: str | None
    created_at: str = Field(description="ISO 8601, UTC")


class ErrorDetail(BaseModel):
    message: str
    type: str = Field(description="OpenAI's error type, from the status: invalid_request_error, authentication_error, ...")
    param: str | None = Field(description="the request field at fault, if one is")
    code: str | None = Field(description="adaptlab's machine-readable reason, e.g. model_not_found")


class ErrorResponse(BaseModel):
    """Every refusal's body, whatever the status."""

    error: ErrorDetail


def documented_errors(*statuses: int) -> dict[int, dict]:
    """OpenAPI `responses` for these error statuses, all answered with an ErrorResponse body."""
    return {status: {"model": ErrorResponse, "description": HTTPStatus(status).phrase} for status in statuses}


# With `stream: true`: server-sent events, each one's `data` a JSON chunk (or an error body), the last one `[DONE]`.
SSE_EVENT = {"type": "object", "properties": {"data": {"type": "string"}, "event": {"type": "string"}}, "required": ["data"]}
EVENT_STREAM = {"text/event-stream": {"schema": SSE_EVENT}}


def without_unused_422(openapi: dict) -> dict:
    """FastAPI documents a 422 for every request body, but this server answers invalid bodies with a 400."""
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    return openapi
