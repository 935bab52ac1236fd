"""Every malformed or forbidden request gets a 4xx in OpenAI's error shape; the server stays healthy."""

import json

import httpx
import pytest

GOOD_COMPLETION = {"model": "acme/bot@production", "prompt": "hello", "max_tokens": 4}
GOOD_CHAT = {"model": "acme/bot@production", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


def _completion(**changes) -> dict:
    return {key: value for key, value in {**GOOD_COMPLETION, **changes}.items() if value is not ...}


def _chat(**changes) -> dict:
    return {key: value for key, value in {**GOOD_CHAT, **changes}.items() if value is not ...}


# (case id, method, path, JSON body or raw bytes, headers override, expected status)
CASES = [
    ("not json", "POST", "/v1/completions", b"{not json", None, 400),
    ("json array", "POST", "/v1/completions", b"[1, 2]", None, 400),
    ("missing model", "POST", "/v1/completions", _completion(model=...), None, 400),
    ("empty model", "POST", "/v1/completions", _completion(model=""), None, 400),
    ("model not a string", "POST", "/v1/completions", _completion(model=7), None, 400),
    ("missing prompt", "POST", "/v1/completions", _completion(prompt=...), None, 400),
    ("prompt as token ids", "POST", "/v1/completions", _completion(prompt=[1, 2, 3]), None, 400),
    ("empty prompt", "POST", "/v1/completions", _completion(prompt=""), None, 400),
    ("prompt too long", "POST", "/v1/completions", _completion(prompt="x" * 3000), None, 400),
    ("prompt plus max_tokens over context", "POST", "/v1/completions", _completion(prompt="x" * 2000, max_tokens=100), None, 400),
    ("max_tokens zero", "POST", "/v1/completions", _completion(max_tokens=0), None, 400),
    ("max_tokens negative", "POST", "/v1/completions", _completion(max_tokens=-5), None, 400),
    ("max_tokens text", "POST", "/v1/completions", _completion(max_tokens="ten"), None, 400),
    ("max_tokens fraction", "POST", "/v1/completions", _completion(max_tokens=1.5), None, 400),
    ("max_tokens over limit", "POST", "/v1/completions", _completion(max_tokens=100_000), None, 400),
    ("temperature negative", "POST", "/v1/completions", _completion(temperature=-1), None, 400),
    ("top_p zero", "POST", "/v1/completions", _completion(top_p=0), None, 400),
    ("n above one", "POST", "/v1/completions", _completion(n=2), None, 400),
    ("stream not bool", "POST", "/v1/completions", _completion(stream="yes"), None, 400),
    ("seed text", "POST", "/v1/completions", _completion(seed="abc"), None, 400),
    ("unsupported field", "POST", "/v1/completions", _completion(logit_bias={"1": 5}), None, 400),
    ("missing messages", "POST", "/v1/chat/completions", _chat(messages=...), None, 400),
    ("empty messages", "POST", "/v1/chat/completions", _chat(messages=[]), None, 400),
    ("unknown role", "POST", "/v1/chat/completions", _chat(messages=[{"role": "wizard", "content": "hi"}]), None, 400),
    ("null content", "POST", "/v1/chat/completions", _chat(messages=[{"role": "user", "content": None}]), None, 400),
    ("messages not a list", "POST", "/v1/chat/completions", _chat(messages="hi"), None, 400),
    ("stream_options not an object", "POST", "/v1/chat/completions", _chat(stream=True, stream_options=True), None, 400),
    ("bad model reference", "POST", "/v1/completions", _completion(model="acme/bot@@x"), None, 400),
    ("path-like model name", "POST", "/v1/completions", _completion(model="../../etc/passwd"), None, 400),
    ("unknown model", "POST", "/v1/completions", _completion(model="acme/nope@v1"), None, 404),
    ("unknown version", "POST", "/v1/completions", _completion(model="acme/bot@v99"), None, 404),
    ("unset alias", "POST", "/v1/completions", _completion(model="acme/bot@staging"), None, 404),
    ("adapter that does not fit the base", "POST", "/v1/completions", _completion(model="acme/misfit@v1"), None, 409),
    ("other tenant's model", "POST", "/v1/completions", _completion(model="globex/rival@production"), None, 403),
    ("no token", "POST", "/v1/completions", GOOD_COMPLETION, {"Authorization": ""}, 401),
    ("unknown token", "POST", "/v1/completions", GOOD_COMPLETION, {"Authorization": "Bearer adl_forged"}, 401),
    ("basic auth", "POST", "/v1/completions", GOOD_COMPLETION, {"Authorization": "Basic dXNlcjpwYXNz"}, 401),
    ("models without token", "GET", "/v1/models", None, {"Authorization": ""}, 401),
    ("GET on completions", "GET", "/v1/completions", None, None, 405),
    ("unknown endpoint", "POST", "/v1/embeddings", {"model": "builtin:tiny", "input": "x"}, None, 404),
    ("body too large", "POST", "/v1/completions", _completion(prompt="x" * (2 * 2**20)), None, 413),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_malformed_request_is_a_4xx_in_openai_shape(acme, method, path, body, headers, status):
    content = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    request_headers = {"Content-Type": "application/json", **(headers or {})}
    response = acme.request(method, path, content=content, headers={k: v for k, v in request_headers.items()})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert acme.get("/healthz").status_code == 200


def test_chunked_body_without_length_is_refused(acme):
    response = acme.post(
        "/v1/completions", content=iter([json.dumps(GOOD_COMPLETION).encode()]), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 411
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_validation_errors_name_the_field(acme):
    error = acme.post("/v1/completions", json=_completion(max_tokens=-5)).json()["error"]
    assert error["param"] == "max_tokens" and "max_tokens" in error["message"]
    error = acme.post("/v1/completions", json=_completion(logit_bias={})).json()["error"]
    assert error["param"] == "logit_bias" and "unsupported" in error["message"]


def test_server_still_answers_after_the_matrix(acme):
    assert len(CASES) >= 20
    assert acme.post("/v1/completions", json=GOOD_COMPLETION).status_code == 200
    assert acme.get("/readyz").status_code == 200


def test_empty_authorization_header_is_missing_token(server):
    response = httpx.post(f"{server.url}/v1/completions", json=GOOD_COMPLETION)
    assert response.status_code == 401 and response.json()["error"]["code"] == "missing_api_key"
