"""Run the app with uvicorn: in the foreground for `adaptlab serve`, or in a background thread
(`running_server`) for tests, benchmarks and notebooks."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from adaptlab.serve.app import create_app
from adaptlab.serve.config import ServeConfig
from adaptlab.serve.read_deadlines import deadline_protocol
from adaptlab.serve.runtime import Runtime, build_runtime
from adaptlab.serve.uvicorn_thread import uvicorn_in_thread


@dataclass(frozen=True)
class RunningServer:
    url: str
    runtime: Runtime


def _uvicorn_server(runtime: Runtime, log_level: str):
    import uvicorn

    config = runtime.config
    return uvicorn.Server(
        uvicorn.Config(
            create_app(runtime),
            host=config.host,
            port=config.port,
            http=deadline_protocol(config.header_timeout_s, config.body_timeout_s),
            log_level=log_level,
            access_log=False,
        )
    )


def serve_forever(runtime: Runtime, log_level: str = "info") -> None:
    """Serve until Ctrl-C / SIGTERM; uvicorn drains open requests first."""
    try:
        _uvicorn_server(runtime, log_level).run()
    except KeyboardInterrupt:  # uvicorn re-raises the signal after its graceful shutdown
        pass
    finally:
        runtime.close()


@contextmanager
def running_server(config: ServeConfig, log_level: str = "warning") -> Iterator[RunningServer]:
    """Load the model, start uvicorn on a thread, yield its URL (port 0 picks a free port); stop on exit."""
    runtime = build_runtime(config)
    try:
        with uvicorn_in_thread(_uvicorn_server(runtime, log_level)) as url:
            yield RunningServer(url=url, runtime=runtime)
    finally:
        runtime.close()
