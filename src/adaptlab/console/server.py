"""Run the console with uvicorn: in the foreground for `adaptlab ui`, or on a background thread
(`running_console`) for tests."""

from collections.abc import Iterator
from contextlib import contextmanager

from adaptlab.console.app import create_console_app
from adaptlab.console.config import ConsoleConfig
from adaptlab.registry import Registry
from adaptlab.serve.uvicorn_thread import uvicorn_in_thread


def open_console_registry(config: ConsoleConfig) -> Registry:
    return Registry.open(config.registry, db=config.db, blobs=config.blobs)


def _uvicorn_server(registry: Registry, config: ConsoleConfig, log_level: str):
    import uvicorn

    app = create_console_app(registry, config)
    return uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level=log_level, access_log=False))


def serve_console(config: ConsoleConfig, log_level: str = "info") -> None:
    """Serve until Ctrl-C / SIGTERM."""
    with open_console_registry(config) as registry:
        try:
            _uvicorn_server(registry, config, log_level).run()
        except KeyboardInterrupt:  # uvicorn re-raises the signal after its graceful shutdown
            pass


@contextmanager
def running_console(config: ConsoleConfig, log_level: str = "warning") -> Iterator[str]:
    """The console on a background thread; yields its URL (port 0 picks a free port)."""
    with open_console_registry(config) as registry, uvicorn_in_thread(_uvicorn_server(registry, config, log_level)) as url:
        yield url
