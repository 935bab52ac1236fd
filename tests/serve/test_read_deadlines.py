"""A client that stalls while sending its headers or its body gets a 408 and its connection closed
within the configured deadline; a slow answer is not cut off, and the server stays healthy."""

import socket
import time

import httpx
import pytest

from adaptlab.serve.server import running_server

from .conftest import HTTP_TIMEOUT_S, serve_config

DEADLINE_S = 0.5
WAIT_S = 10  # far beyond the deadline: without one the socket stays open this long


@pytest.fixture(scope="module")
def strict_server(world):
    with running_server(serve_config(world, header_timeout_s=DEADLINE_S, body_timeout_s=DEADLINE_S)) as running:
        yield running


def _stalled(server, payload: bytes) -> tuple[bytes, float]:
    """(everything the server sent until it closed, seconds that took) after sending `payload` and no more."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as connection:
        connection.settimeout(WAIT_S)
        started = time.monotonic()
        connection.sendall(payload)
        received = b""
        while chunk := connection.recv(4096):
            received += chunk
        return received, time.monotonic() - started


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n",
        b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\"",
    ],
    ids=["nothing", "half the headers", "half the body"],
)
def test_a_stalled_request_is_cut_off(strict_server, payload):
    received, seconds = _stalled(strict_server, payload)
    assert seconds < DEADLINE_S + 2
    assert received.startswith(b"HTTP/1.1 408"), received
    assert b'"code":"request_timeout"' in received.replace(b" ", b"")
    assert httpx.get(f"{strict_server.url}/healthz").status_code == 200


def test_answers_slower_than_the_deadlines_are_not_cut_off(strict_server, world):
    headers = {"Authorization": f"Bearer {world.acme_token}"}
    body = {"model": "acme/bot@v1", "prompt": "take your time", "max_tokens": 200}
    started = time.monotonic()
    response = httpx.post(f"{strict_server.url}/v1/completions", json=body, headers=headers, timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 200, response.text
    with httpx.Client(base_url=strict_server.url, headers=headers, timeout=HTTP_TIMEOUT_S) as client:  # keep-alive reuse
        for _ in range(2):
            assert client.post("/v1/completions", json={**body, "max_tokens": 2}).status_code == 200
            time.sleep(DEADLINE_S * 1.5)
    assert time.monotonic() - started > DEADLINE_S
