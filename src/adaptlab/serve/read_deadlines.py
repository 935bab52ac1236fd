"""Read deadlines for uvicorn's HTTP/1.1 connections, which it lacks: a request's headers must arrive
within `header_s` of its first byte (or of the connection opening), and its body within `body_s` of
the headers. A client that stalls past either gets a 408 and the connection closes, instead of
holding it (and a slot of the server's) for as long as it likes. The time spent answering a request
is not limited here. Built on uvicorn's h11 protocol (its default without the optional httptools),
watching h11's view of the client's side of the connection: IDLE with bytes in is a request's headers
arriving, SEND_BODY its body."""

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from adaptlab.serve.errors import ErrorBody


def _timeout_response(message: str) -> bytes:
    body = json.dumps(ErrorBody(408, message, "request_timeout").json()).encode()
    head = f"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    return head.encode() + body


def deadline_protocol(header_s: float, body_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol class with these read deadlines (pass it as `uvicorn.Config(http=...)`)."""

    class DeadlineH11Protocol(H11Protocol):
        _timer: asyncio.TimerHandle | None = None
        _phase: str | None = None  # "headers" or "body" while a deadline runs

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm("headers")

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            state = self.conn.their_state
            if state is h11.IDLE:  # bytes of a request whose headers are not complete yet
                self._arm("headers")
            elif state is h11.SEND_BODY:
                self._arm("body")
            else:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self, phase: str) -> None:
            if self._phase == phase:
                return
            self._disarm()
            self._phase = phase
            self._timer = self.loop.call_later(header_s if phase == "headers" else body_s, self._expire)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._phase = None, None

        def _expire(self) -> None:
            seconds = header_s if self._phase == "headers" else body_s
            if self.transport.is_closing():
                return
            if self.cycle is None or not self.cycle.response_started:
                self.transport.write(_timeout_response(f"the request's {self._phase} did not arrive within {seconds:g} s"))
            self.transport.close()

    return DeadlineH11Protocol
