"""A uvicorn server on a background thread (tests, benchmarks, notebooks): started, its URL yielded,
stopped on exit. Shared by `adaptlab serve` and `adaptlab ui`."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from adaptlab.errors import AdaptlabError

if TYPE_CHECKING:
    import uvicorn

STARTUP_TIMEOUT_S = 60


class ServerStartError(AdaptlabError):
    """The server did not start listening (port taken, bad address)."""

    http_status, error_code = 503, "server_not_started"


@contextmanager
def uvicorn_in_thread(server: "uvicorn.Server") -> Iterator[str]:
    """Run `server` on a daemon thread; yield `http://host:port` once it listens (port 0: the one picked)."""
    thread = threading.Thread(target=server.run, name="adaptlab-uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ServerStartError(f"the server did not start on {server.config.host}:{server.config.port} (port taken?)")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://{server.config.host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
