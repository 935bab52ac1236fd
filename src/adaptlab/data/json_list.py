"""Stream a `.json` file holding one list: element by element, each with the line where it starts.

The text is read in chunks into a window that is decoded from the current element on; an element that runs past
the window's end makes the window grow, up to max_line_bytes. Parsed text is dropped, so memory is bounded by the
largest element, not by the file.
"""

import json
import re
from collections.abc import Iterator
from typing import TextIO

from adaptlab.data.text_source import CHUNK_BYTES, utf8_length
from adaptlab.errors import DataError

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
# A value cut off by the window's end fails at most this close to it (`-Infinity`, `\uXXXX\uXXXX`), or as an
# unterminated string; any other error is in the text itself.
_CUT_TAIL_CHARS = 16


def json_list_elements(text: TextIO, name: str, max_line_bytes: int) -> Iterator[tuple[int, object]]:
    """(line, value) for each element; DataError naming `file:line` for broken JSON or an element over the cap."""
    window = _Window(text)
    pos = window.skip_whitespace(0)
    if not window.startswith("[", pos):
        raise DataError(
            f"{name}: expected a JSON list of objects ([{{...}}, ...]); for one object per line name the file .jsonl"
        )
    pos = window.skip_whitespace(pos + 1)
    closed = window.startswith("]", pos)
    while not closed:
        pos = window.forget_before(pos)
        line = window.line_at(pos)
        value, pos = _decode_element(window, pos, name, line, max_line_bytes)
        yield line, value
        pos = window.skip_whitespace(pos)
        if window.startswith(",", pos):
            pos = window.skip_whitespace(pos + 1)
        elif window.startswith("]", pos):
            closed = True
        else:
            raise DataError(f"{name}:{window.line_at(pos)}: invalid JSON: expected ',' or ']' after a list element")
    pos = window.skip_whitespace(pos + 1)
    if pos < len(window.data):
        raise DataError(f"{name}:{window.line_at(pos)}: invalid JSON: text after the closing ']'")


def _decode_element(window: "_Window", pos: int, name: str, line: int, max_line_bytes: int) -> tuple[object, int]:
    while True:
        try:
            value, end = _DECODER.raw_decode(window.data, pos)
        except RecursionError:
            raise DataError(f"{name}:{line}: invalid JSON: nested too deeply") from None
        except json.JSONDecodeError as exc:
            if window.eof or not _maybe_cut_off(exc, len(window.data)):
                error_line, column = window.where(exc.pos)
                raise DataError(f"{name}:{error_line}: invalid JSON: {exc.msg} (column {column})") from None
        except ValueError as exc:  # valid syntax Python refuses, e.g. an integer of more than 4300 digits
            raise DataError(f"{name}:{line}: invalid JSON: {exc}") from None
        else:
            if end < len(window.data) or window.eof:  # a number at the window's end may go on
                if utf8_length(window.data[pos:end]) > max_line_bytes:
                    raise _too_long(name, line, max_line_bytes)
                return value, end
        if len(window.data) - pos > max_line_bytes:  # characters: at least as many bytes
            raise _too_long(name, line, max_line_bytes)
        window.read_more(max(CHUNK_BYTES, len(window.data) - pos))


def _too_long(name: str, line: int, max_line_bytes: int) -> DataError:
    return DataError(
        f"{name}:{line}: a list element longer than --max-line-bytes {max_line_bytes}; "
        "shorten the row or raise --max-line-bytes"
    )


def _maybe_cut_off(exc: json.JSONDecodeError, window_chars: int) -> bool:
    return exc.msg.startswith("Unterminated string") or exc.pos >= window_chars - _CUT_TAIL_CHARS


class _Window:
    """The unparsed text, read chunk by chunk; knows the line (and, for errors, the column) of its offsets."""

    def __init__(self, text: TextIO):
        self._text = text
        self.data = ""
        self.eof = False
        self._cursor = 0  # offset in data whose line is _cursor_line; line_at moves it forward
        self._cursor_line = 1
        self._first_column = 1  # column of data[0]

    def read_more(self, chars: int = CHUNK_BYTES) -> bool:
        chunk = self._text.read(chars)
        self.data += chunk
        self.eof = not chunk
        return bool(chunk)

    def startswith(self, prefix: str, pos: int) -> bool:
        while pos + len(prefix) > len(self.data) and self.read_more():
            pass
        return self.data.startswith(prefix, pos)

    def skip_whitespace(self, pos: int) -> int:
        while True:
            pos = self.forget_before(_WHITESPACE.match(self.data, pos).end())
            if pos < len(self.data) or not self.read_more():
                return pos

    def line_at(self, pos: int) -> int:
        """The line of data[pos]; offsets only move forward (one pass over the text)."""
        self._cursor_line += self.data.count("\n", self._cursor, pos)
        self._cursor = pos
        return self._cursor_line

    def where(self, pos: int) -> tuple[int, int]:
        newline = self.data.rfind("\n", 0, pos)
        return self.line_at(pos), pos - newline if newline >= 0 else self._first_column + pos

    def forget_before(self, pos: int) -> int:
        """Drop parsed text once there is a chunk of it; returns where `pos` now is."""
        if pos < CHUNK_BYTES:
            return pos
        line = self.line_at(pos)
        newline = self.data.rfind("\n", 0, pos)
        self._first_column = pos - newline if newline >= 0 else self._first_column + pos
        self.data = self.data[pos:]
        self._cursor, self._cursor_line = 0, line
        return 0
