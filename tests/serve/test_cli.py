"""`adaptlab serve` as a user runs it: a subprocess on a loopback port, stopped with SIGINT."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from adaptlab.serve.config import ServeConfig
from tests.cli_help import assert_every_field_has_a_typed_flag

STARTUP_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_command_answers_and_stops_cleanly(world):
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "adaptlab",
        "serve",
        "--model",
        "builtin:tiny",
        "--registry",
        str(world.registry_root),
        "--port",
        str(port),
        "--pin",
        "acme/bot@production",
        "--max-batch-size",
        "4",
        "--max-request-bytes",
        "4096",
        "--max-prompt-tokens",
        "64",
        "--default-max-tokens",
        "2",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "200"})
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "server did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/completions",
            headers={"Authorization": f"Bearer {world.acme_token}"},
            json={"model": "acme/bot@production", "prompt": "cli", "max_tokens": 3},
            timeout=30,
        )
        assert response.status_code == 200 and response.json()["model"] == "acme/bot@v1"
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'adaptlab_serve_adapter_cache_total{adapter="acme/bot@v1",event="hit"} 1.0' in metrics  # pinned: loaded at start
        limits = {  # the three limits that had no flag, each set on the command line above
            "body": {"prompt": "x" * 5000, "max_tokens": 1},
            "prompt": {"prompt": "word " * 200, "max_tokens": 1},
            "default": {"prompt": "cli"},
        }
        answers = {
            name: httpx.post(f"http://127.0.0.1:{port}/v1/completions", headers={"Authorization": f"Bearer {world.acme_token}"},
                             json={"model": "acme/bot@production", **body}, timeout=30)
            for name, body in limits.items()
        }
        assert answers["body"].status_code == 413 and "4096" in answers["body"].json()["error"]["message"]
        assert answers["prompt"].status_code == 400 and "at most 64" in answers["prompt"].json()["error"]["message"]
        assert answers["default"].status_code == 200 and answers["default"].json()["usage"]["completion_tokens"] <= 2
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "base + registry adapters" in output and f"http://127.0.0.1:{port}/v1" in output
    assert "requests answered" in output and "acme/bot@v1" in output.split("requests answered")[1]


def test_help_has_a_typed_flag_for_every_config_field():
    assert_every_field_has_a_typed_flag("serve", ServeConfig)


def test_invalid_flag_is_a_readable_error(world):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "adaptlab",
            "serve",
            "--model",
            "builtin:tiny",
            "--registry",
            str(world.registry_root),
            "--max-batch-size",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--max-batch-size" in result.stderr and "Traceback" not in result.stderr
