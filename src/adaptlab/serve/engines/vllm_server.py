"""The vLLM engine: requests go to a vLLM OpenAI-compatible server (`vllm serve BASE --enable-lora`, with
`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`), adapters are loaded there through `/v1/load_lora_adapter` from
the registry's verified copies (vLLM must see the registry folder at the same path). Only versions the
gateway has resolved and approved ever reach it, after the same adapter check the built-in engine runs.

Prompts go as token ids and come back as token ids (`return_token_ids`), so the gateway's text, token
counts and stop handling are the same as with the other engines. Base-model requests go through a zero
LoRA adapter (engines/zero_adapter.py), so vLLM never batches base rows with LoRA rows."""

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx

from adaptlab.errors import AdaptlabError, ConfigError, ModelLoadError
from adaptlab.serve.engines.adapter_checks import checked_lora_adapter
from adaptlab.serve.engines.base import Engine, EngineContext, Event, Failed, Finished, GenerationRequest, Started, Token
from adaptlab.serve.engines.zero_adapter import ZERO_ADAPTER_NAME, base_module_shapes, write_zero_adapter
from adaptlab.serve.errors import ServeError

ZERO_ADAPTERS_FOLDER = "serve-zero-adapters"  # inside the registry folder, which vLLM sees at the same path
FINISH_REASONS = {"stop", "length"}


class VllmEngine(Engine):
    def __init__(self, context: EngineContext):
        config = context.config
        if not config.vllm_url:
            raise ConfigError("--engine vllm needs --vllm-url: the vLLM OpenAI server's base URL, e.g. http://gpu-1:8000")
        if context.merged is not None:
            raise ConfigError(
                "--merge is not served through vLLM: merge the adapter into a model folder (`adaptlab merge`) "
                "and serve that folder with vLLM, or use --engine builtin|ray"
            )
        self.context = context
        self.url = config.vllm_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {config.vllm_api_key}"} if config.vllm_api_key else {}
        self.timeout = httpx.Timeout(config.vllm_timeout_s)
        self.modules = base_module_shapes(context.base.path)
        self.zero_adapter = write_zero_adapter(
            config.registry / ZERO_ADAPTERS_FOLDER / context.base.weights_sha256[:16], context.base, self.modules
        )
        self.loaded: set[str] = set()
        self._loading: dict[str, asyncio.Lock] = {}
        self._running = False

    def start(self) -> None:
        """Check the server answers, then load the zero adapter and the pinned versions (a refusal stops the gateway)."""
        asyncio.run(self._start())

    async def _start(self) -> None:
        try:
            async with self._client() as client:
                served = await self._served_models(client)
        except httpx.HTTPError as exc:
            raise ModelLoadError(f"--vllm-url {self.url}: no vLLM server answers there ({exc})") from exc
        self._running = True
        await self._load(ZERO_ADAPTER_NAME, self.zero_adapter, served)
        for ref in self.context.pinned:
            await self.load_adapter(ref)
        self._loading.clear()  # its locks belong to this start-up loop, not the server's

    def close(self) -> None:
        self._running = False

    @property
    def is_ready(self) -> bool:
        """Started and not closed: a vLLM that stops answering fails requests (503), it does not take the gateway
        out of its load balancer (every gateway shares that vLLM; readiness would never come back without traffic)."""
        return self._running

    def describe(self) -> str:
        return f"vLLM at {self.url} (base requests through {ZERO_ADAPTER_NAME})"

    async def load_adapter(self, version_ref: str) -> None:
        lock = self._loading.setdefault(version_ref, asyncio.Lock())
        async with lock:
            if version_ref in self.loaded:
                return
            path = await asyncio.to_thread(self.context.fetch, version_ref)
            await asyncio.to_thread(checked_lora_adapter, path, version_ref, self.context.base, self.modules)
            async with self._client() as client:
                served = await self._served_models(client)
            await self._load(version_ref, path, served)

    async def unload_adapter(self, version_ref: str) -> None:
        if version_ref not in self.loaded:
            return
        async with self._client() as client:
            response = await client.post(f"{self.url}/v1/unload_lora_adapter", json={"lora_name": version_ref})
        if response.status_code != 200:
            raise _refusal(response, f"vLLM would not unload {version_ref}")
        self.loaded.discard(version_ref)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Event]:
        submitted = time.perf_counter()
        lora_name = request.adapter or ZERO_ADAPTER_NAME  # the mixed base/LoRA batch guard
        for attempt in range(2):  # a vLLM that restarted has forgotten its adapters: load again once
            try:
                if request.adapter is not None:
                    await self.load_adapter(request.adapter)
                async with self._client() as client, client.stream("POST", f"{self.url}/v1/completions", json=_body(request, lora_name)) as response:
                    if response.status_code == 404 and attempt == 0:
                        self.loaded.discard(lora_name)
                        if request.adapter is None:
                            await self._load(ZERO_ADAPTER_NAME, self.zero_adapter, set())
                        continue
                    if response.status_code != 200:
                        await response.aread()
                        raise _refusal(response, "vLLM refused the request")
                    yield Started(time.perf_counter() - submitted)
                    async for event in _events(response, request.stop_token_ids):
                        yield event
                    return
            except AdaptlabError as exc:
                yield Failed(exc)
                return
            except httpx.HTTPError as exc:
                yield Failed(ServeError(503, f"the vLLM engine did not answer: {type(exc).__name__}", code="engine_unavailable"))
                return

    async def _load(self, name: str, path, served: set[str]) -> None:
        """Register `name` → `path` with vLLM unless it serves that name already (loaded at its start, or by another gateway)."""
        if name not in served:
            async with self._client() as client:
                response = await client.post(f"{self.url}/v1/load_lora_adapter", json={"lora_name": name, "lora_path": str(path)})
                if response.status_code != 200 and name not in await self._served_models(client):
                    raise _refusal(response, f"vLLM would not load {name}")
        self.loaded.add(name)

    async def _served_models(self, client: httpx.AsyncClient) -> set[str]:
        response = await client.get(f"{self.url}/v1/models")
        response.raise_for_status()
        return {model["id"] for model in response.json()["data"]}

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.timeout, headers=self.headers)


def _body(request: GenerationRequest, lora_name: str) -> dict:
    return {
        "model": lora_name,
        "prompt": request.prompt_ids,
        "max_tokens": request.max_new_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "stop_token_ids": sorted(request.stop_token_ids),
        "stream": True,
        "return_token_ids": True,
    }


async def _events(response: httpx.Response, stop_token_ids: frozenset[int]) -> AsyncIterator[Event]:
    """Token events from vLLM's server-sent chunks (each one's `token_ids` are the new tokens; a stop token is
    not part of the answer), then Finished; Failed if the stream ends without a finish reason."""
    async for line in response.aiter_lines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[len("data: ") :])
        if "error" in chunk:
            yield Failed(ServeError(503, f"the vLLM engine failed mid-answer: {chunk['error'].get('message', '')}", code="engine_failed"))
            return
        for choice in chunk.get("choices", ()):
            for token_id in choice.get("token_ids") or ():
                if token_id not in stop_token_ids:
                    yield Token(token_id)
            reason = choice.get("finish_reason")
            if reason in FINISH_REASONS:
                yield Finished(reason)
                return
            if reason is not None:
                yield Failed(ServeError(503, f"the vLLM engine ended the answer: {reason}", code="engine_failed"))
                return
    yield Failed(ServeError(503, "the vLLM engine closed the stream before the answer finished", code="engine_unavailable"))


def _refusal(response: httpx.Response, what: str) -> ServeError:
    """vLLM's error as ours: its 4xx are the gateway's fault (a bug or a misconfigured vLLM), so a 503 to the client."""
    try:
        body = response.json()
        detail = body.get("error", body) if isinstance(body, dict) else {}
        message = (detail.get("message") if isinstance(detail, dict) else None) or response.text
    except ValueError:
        message = response.text
    return ServeError(503, f"{what} (HTTP {response.status_code}): {message[:300]}", code="engine_failed")
