"""A stand-in for a third-party server: the few endpoints of vLLM's OpenAI server that adaptlab's vLLM
engine uses (`/health`, `/v1/models`, `/v1/load_lora_adapter`, `/v1/unload_lora_adapter`, streamed
`/v1/completions` with token-id prompts and `return_token_ids`), answering with a real model: the base,
or the base with a loaded PEFT adapter, through `model.generate`, one request at a time. vLLM itself is
CUDA-only and cannot be installed here. It records the `model` of every completion request it gets."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from adaptlab.models import load_causal_lm


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "BadRequestError" if status == 400 else "NotFoundError", "code": status}}, status)


class FakeVllm:
    def __init__(self, model_dir: Path, served_model_name: str):
        self.model_dir = model_dir
        self.served_model_name = served_model_name
        self.loras: dict[str, object] = {}  # lora name -> PeftModel
        self.lora_paths: dict[str, str] = {}
        self.base = load_causal_lm(model_dir).eval()
        self.requested_models: list[str] = []
        self.lock = threading.Lock()

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/health")
        def health() -> PlainTextResponse:
            return PlainTextResponse("")

        @app.get("/v1/models")
        def models() -> dict:
            cards = [{"id": self.served_model_name, "object": "model", "root": str(self.model_dir), "parent": None}]
            cards += [{"id": name, "object": "model", "root": path, "parent": self.served_model_name} for name, path in self.lora_paths.items()]
            return {"object": "list", "data": cards}

        @app.post("/v1/load_lora_adapter")
        async def load(request: Request):
            body = await request.json()
            name, path = body["lora_name"], body["lora_path"]
            if name in self.loras:
                return _error(400, f"The lora adapter '{name}' has already been loaded.")
            from peft import PeftModel

            with self.lock:
                self.loras[name] = PeftModel.from_pretrained(load_causal_lm(self.model_dir), path).eval()
            self.lora_paths[name] = path
            return PlainTextResponse(f"Success: LoRA adapter '{name}' added successfully.")

        @app.post("/v1/unload_lora_adapter")
        async def unload(request: Request):
            name = (await request.json())["lora_name"]
            if self.loras.pop(name, None) is None:
                return _error(404, f"The lora adapter '{name}' cannot be found.")
            del self.lora_paths[name]
            return PlainTextResponse(f"Success: LoRA adapter '{name}' removed successfully.")

        @app.post("/v1/completions")
        async def completions(request: Request):
            body = await request.json()
            self.requested_models.append(body["model"])
            model = self.base if body["model"] == self.served_model_name else self.loras.get(body["model"])
            if model is None:
                return _error(404, f"The model `{body['model']}` does not exist.")
            token_ids, reason = self._generate(model, body)
            return StreamingResponse(self._chunks(body["model"], token_ids, reason), media_type="text/event-stream")

        return app

    def _generate(self, model, body: dict) -> tuple[list[int], str]:
        import torch

        prompt = torch.tensor([body["prompt"]])
        stops = set(body.get("stop_token_ids") or ()) | {model.generation_config.eos_token_id}
        sampling = body.get("temperature", 1.0) > 0
        with self.lock, torch.inference_mode():
            if body.get("seed") is not None:
                torch.manual_seed(body["seed"])
            output = model.generate(
                prompt,
                attention_mask=torch.ones_like(prompt),
                max_new_tokens=body["max_tokens"],
                do_sample=sampling,
                temperature=body["temperature"] if sampling else None,
                top_p=body.get("top_p", 1.0) if sampling else None,
                eos_token_id=sorted(stops),
                pad_token_id=256,
            )
        new_ids = output[0, prompt.shape[1] :].tolist()
        stop_at = next((i for i, token in enumerate(new_ids) if token in stops), None)
        if stop_at is not None:
            return new_ids[: stop_at + 1], "stop"  # like vLLM, the stop token is among the ids, not the text
        return new_ids, "length"

    def _chunks(self, model: str, token_ids: list[int], reason: str) -> Iterator[str]:
        created = int(time.time())
        for index, token_id in enumerate(token_ids):
            last = index == len(token_ids) - 1
            choice = {"index": 0, "text": "", "token_ids": [token_id], "finish_reason": reason if last else None, "logprobs": None}
            yield f"data: {json.dumps({'id': 'cmpl-fake', 'object': 'text_completion', 'created': created, 'model': model, 'choices': [choice]})}\n\n"
        yield "data: [DONE]\n\n"


@contextmanager
def running_fake_vllm(model_dir: Path, served_model_name: str) -> Iterator[tuple[str, FakeVllm]]:
    """(URL, the fake) of a FakeVllm on a loopback port."""
    import uvicorn

    from adaptlab.serve.uvicorn_thread import uvicorn_in_thread

    fake = FakeVllm(model_dir, served_model_name)
    server = uvicorn.Server(uvicorn.Config(fake.app(), host="127.0.0.1", port=0, log_level="warning"))
    with uvicorn_in_thread(server) as url:
        yield url, fake
