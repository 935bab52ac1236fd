"""One suite for every engine behind the gateway (`serve --engine`): a client sees the same answers, the
same errors and the same version header whichever engine generates. Engines that cannot run here skip
with the reason: Ray Serve without `ray[serve]`, a real vLLM without `vllm` (a CUDA-only wheel); vLLM's
API is also served by a fake of that third-party server (fake_vllm.py) around a real model."""

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import typing
from contextlib import contextmanager

import httpx
import pytest

from adaptlab.models import load_tokenizer
from adaptlab.serve.config import ServeConfig
from adaptlab.serve.engines import ENGINES
from adaptlab.serve.engines.base import GenerationRequest
from adaptlab.serve.server import running_server

from .conftest import BROKEN_MODEL, HTTP_TIMEOUT_S, UNAPPROVED_MODEL, serve_config
from .fake_vllm import running_fake_vllm

MAX_TOKENS = 6
ANSWERED = [("builtin:tiny", "alpha beta", "builtin:tiny"), ("acme/bot@v1", "bravo", "acme/bot@v1"), ("acme/helper@production", "charlie delta", "acme/helper@v1")]
REFUSED = [
    {"model": "globex/rival@v1", "prompt": "hi"},  # another tenant's
    {"model": "acme/nothing@v1", "prompt": "hi"},  # unknown
    {"model": f"{BROKEN_MODEL}@v1", "prompt": "hi"},  # cannot load on this base
    {"model": f"{UNAPPROVED_MODEL}@v1", "prompt": "hi"},  # not approved
    {"model": "acme/bot@v1", "prompt": "hi", "max_tokens": 10**6},  # above the limit
    {"model": "acme/bot@v1", "prompt": ""},  # empty
]
REFUSED_STATUSES = [403, 404, 409, 403, 400, 400]
ENGINE_PARAMS = ["builtin", "vllm-api", pytest.param("vllm", marks=pytest.mark.slow), pytest.param("ray", marks=pytest.mark.slow)]
RAY_REPLICAS = 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _real_vllm(model_dir):
    """`vllm serve` on the tiny model with runtime LoRA loading, on a loopback port."""
    port = _free_port()
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir), "--port", str(port)]
    command += ["--host", "127.0.0.1", "--enable-lora", "--max-lora-rank", "8", "--max-loras", "4", "--dtype", "float32"]
    process = subprocess.Popen(command, env={**os.environ, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "vllm serve did not start"
            time.sleep(1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)


@contextmanager
def _gateway(engine: str, world, tiny_model, server):
    if engine == "builtin":
        yield server  # the session's built-in server
    elif engine == "vllm-api":
        with running_fake_vllm(tiny_model.path, str(tiny_model.path)) as (url, _), running_server(serve_config(world, engine="vllm", vllm_url=url)) as gateway:
            yield gateway
    elif engine == "vllm":
        if importlib.util.find_spec("vllm") is None:
            pytest.skip("vllm not importable (its wheel is CUDA-only)")
        with _real_vllm(tiny_model.path) as url, running_server(serve_config(world, engine="vllm", vllm_url=url)) as gateway:
            yield gateway
    else:
        if importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.serve") is None:
            pytest.skip("ray[serve] not installed (pip install 'adaptlab[ray-serve]')")
        with running_server(serve_config(world, engine="ray", replicas=RAY_REPLICAS, ray_replica_cpus=0.5)) as gateway:
            yield gateway


@pytest.fixture(scope="module", params=ENGINE_PARAMS)
def engine_gateway(request, world, tiny_model, server):
    with _gateway(request.param, world, tiny_model, server) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def engine_client(engine_gateway, world):
    headers = {"Authorization": f"Bearer {world.acme_token}"}
    with httpx.Client(base_url=engine_gateway.url, headers=headers, timeout=HTTP_TIMEOUT_S) as client:
        yield client


def _expected_text(reference, tokenizer, version: str, prompt: str) -> str:
    adapter = None if version == "builtin:tiny" else version
    return tokenizer.decode(reference(adapter, tokenizer(prompt)["input_ids"], MAX_TOKENS), skip_special_tokens=True)


def test_answers_and_version_header_are_the_same(engine_client, reference, tiny_model):
    tokenizer = load_tokenizer(tiny_model.path)
    for model, prompt, version in ANSWERED:
        response = engine_client.post("/v1/completions", json={"model": model, "prompt": prompt, "max_tokens": MAX_TOKENS})
        assert response.status_code == 200, response.text
        assert response.headers["X-Adaptlab-Model-Version"] == version == response.json()["model"]
        assert response.json()["choices"][0]["text"] == _expected_text(reference, tokenizer, version, prompt), model


def test_streamed_answers_are_the_same(engine_client, reference, tiny_model):
    tokenizer = load_tokenizer(tiny_model.path)
    request = {"model": "acme/helper@production", "prompt": "echo foxtrot", "max_tokens": MAX_TOKENS, "stream": True}
    request["stream_options"] = {"include_usage": True}
    with engine_client.stream("POST", "/v1/completions", json=request) as response:
        assert response.status_code == 200
        assert response.headers["X-Adaptlab-Model-Version"] == "acme/helper@v1"
        events = [line[len("data: ") :] for line in response.iter_lines() if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert "".join(choice["text"] for chunk in chunks for choice in chunk["choices"]) == _expected_text(
        reference, tokenizer, "acme/helper@v1", "echo foxtrot"
    )
    assert chunks[-1]["usage"]["prompt_tokens"] == len(tokenizer("echo foxtrot")["input_ids"])


def test_the_engine_generates_a_whole_answer_at_once(engine_gateway, reference, tiny_model):
    """`Engine.generate`, the interface's one-shot call, on what the gateway hands every engine: a verified version ref."""
    prompt_ids = load_tokenizer(tiny_model.path)("golf hotel")["input_ids"]
    request = GenerationRequest(
        prompt_ids=prompt_ids, adapter="acme/bot@v2", max_new_tokens=MAX_TOKENS, temperature=0.0, top_p=1.0, seed=None,
        stop_token_ids=engine_gateway.runtime.stop_token_ids,
    )  # fmt: skip
    result = asyncio.run(engine_gateway.runtime.engine.generate(request))
    assert result.token_ids == reference("acme/bot@v2", prompt_ids, MAX_TOKENS)
    assert result.finish_reason == ("length" if len(result.token_ids) == MAX_TOKENS else "stop")


def test_refusals_are_the_same(engine_client, acme):
    """Status and error body (message included) as the built-in engine's server answers them."""
    for body, status in zip(REFUSED, REFUSED_STATUSES):
        response = engine_client.post("/v1/completions", json={"max_tokens": 2, **body})
        builtin = acme.post("/v1/completions", json={"max_tokens": 2, **body})
        assert (response.status_code, response.json()) == (status, builtin.json()), body


def test_the_builtin_engine_loads_and_unloads_on_request(server):
    """What a Ray replica's adapter multiplexer calls: load keeps the adapter resident, unload lets it go."""
    engine = server.runtime.engine
    asyncio.run(engine.load_adapter("acme/writer@v1"))
    assert "acme/writer@v1" in engine.cache.pinned and "acme/writer@v1" in engine.cache.loaded_bytes
    asyncio.run(engine.unload_adapter("acme/writer@v1"))
    assert "acme/writer@v1" not in engine.cache.pinned


def test_every_engine_name_the_config_accepts_has_an_engine():
    assert set(typing.get_args(ServeConfig.model_fields["engine"].annotation)) == set(ENGINES)
