"""A data file as a bounded stream: regular files only, hashed as they are read, lines capped in bytes.

Nothing here holds more than one capped line (plus a read-ahead chunk) in memory, so a huge file, a huge line or
`/dev/zero` costs neither minutes of parsing nor gigabytes before the error.
"""

import codecs
import hashlib
import io
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from adaptlab.errors import DataError

CHUNK_BYTES = 1 << 16


class HashingReader(io.RawIOBase):
    """A file's bytes, hashed on their way to the parser: the hash is of exactly the bytes parsed."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self._raw.readinto(buffer)
        self._sha256.update(memoryview(buffer)[:count])
        return count

    def hexdigest(self) -> str:
        """The hash of the whole file: bytes the parser had no need to read are read (and hashed) now."""
        while chunk := self._raw.read(CHUNK_BYTES):
            self._sha256.update(chunk)
        return self._sha256.hexdigest()


def require_regular_file(path: Path, name: str) -> None:
    """Refuse what cannot be read as a data file before opening it: a pipe would block, a device never ends."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except OSError as exc:
        raise DataError(f"{name}: cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise DataError(f"{name}: is a folder; pass the data files themselves")
    if not stat.S_ISREG(mode):
        raise DataError(f"{name}: not a regular file (a device, pipe or socket); save the data to a file and pass that")


def text_stream(hashing: HashingReader, newline: str) -> TextIO:
    """UTF-8 text decoded chunk by chunk, a byte-order mark dropped; `newline` as for `open` ("" keeps all endings)."""
    return io.TextIOWrapper(io.BufferedReader(hashing, CHUNK_BYTES), encoding="utf-8-sig", newline=newline)


def utf8_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def capped_lines(text: TextIO, max_line_bytes: int) -> Iterator[str | None]:
    """Each `\\n`-ended line with its ending; None for a line over max_line_bytes (its rest is read in pieces and
    dropped, never held)."""
    while line := text.readline(max_line_bytes + 1):
        if utf8_length(line.rstrip("\r\n")) <= max_line_bytes:
            yield line
            continue
        while line and not line.endswith("\n"):
            line = text.readline(CHUNK_BYTES)
        yield None


def utf8_error(path: Path, name: str) -> DataError:
    """`file:line: not valid UTF-8 ...` for the first bad byte; found by a second pass, since the streaming decoder
    only knows the offset inside its chunk."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = newlines = 0  # bytes and newlines before the current chunk
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(CHUNK_BYTES)
            pending = decoder.getstate()[0]  # an unfinished character from the previous chunk (never a newline)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                seen = pending + chunk
                line = newlines + seen.count(b"\n", 0, exc.start) + 1
                at = offset - len(pending) + exc.start
                byte = f"byte 0x{seen[exc.start]:02x} at offset {at}"
                return DataError(f"{name}:{line}: not valid UTF-8 ({byte}); save the file as UTF-8")
            if not chunk:
                return DataError(f"{name}: not valid UTF-8; save the file as UTF-8")
            offset += len(chunk)
            newlines += chunk.count(b"\n")
