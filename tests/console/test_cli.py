"""`adaptlab ui` as a user runs it: a subprocess on a loopback port, stopped with SIGINT."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
from typer.testing import CliRunner

from adaptlab.cli import app
from adaptlab.console.config import ConsoleConfig
from adaptlab.errors import ConfigError
from tests.cli_help import assert_every_field_has_a_typed_flag

STARTUP_TIMEOUT_S = 60


def test_ui_command_serves_the_sign_in_page_and_stops_cleanly(console_world):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "adaptlab", "ui", "--registry", str(console_world.root), "--port", str(port), "--session-ttl-s", "60"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "200"})
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "console did not start"
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/signin", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert answer.status_code == 200 and 'name="token"' in answer.text
        assert "max-age=60" in answer.headers["set-cookie"].lower()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}/" in output


def test_help_has_a_typed_flag_for_every_config_field():
    assert_every_field_has_a_typed_flag("ui", ConsoleConfig)


def test_invalid_flag_is_an_error_naming_it(tmp_path):
    result = CliRunner().invoke(app, ["ui", "--registry", str(tmp_path), "--audit-page-size", "0"])
    assert isinstance(result.exception, ConfigError) and "--audit-page-size" in str(result.exception)
