"""UTF-16 and UTF-32 event files, read as the UTF-8 every reader expects.

Windows PowerShell 5 writes UTF-16 with `>` and `Out-File`; a user exporting events that way
should get their events, not one "malformed JSON" per line. The encoding is told as
RFC 4627 (section 3) tells JSON's: by a byte-order mark, else by where the zero bytes fall
in the first four (JSON text starts with ASCII). Anything the codec cannot decode becomes
bytes that are not UTF-8, so the line holding it is reported as malformed, never altered
silently.
"""

from __future__ import annotations

import codecs
import io
from typing import Any, Protocol

_MARKS = (  # longest first: UTF-32-LE's mark starts with UTF-16-LE's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_CHUNK = 1 << 18  # encoded bytes decoded at a time
_UNDECODABLE = "eqlwatch.undecodable"


def _not_utf8(error: UnicodeError) -> tuple[str, int]:
    """A lone surrogate in place of what cannot be decoded: it encodes (with
    `surrogatepass`) to bytes no UTF-8 reader accepts."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "\udcff", error.end


codecs.register_error(_UNDECODABLE, _not_utf8)


def wide_encoding(head: bytes) -> tuple[str, int] | None:
    """(codec, length of its byte-order mark) when `head`, a file's first bytes, is UTF-16
    or UTF-32 text; None for anything else (UTF-8, binary, too short to tell)."""
    for mark, codec in _MARKS:
        if head.startswith(mark):
            return codec, len(mark)
    if len(head) < 4:
        return None
    zeros = "".join("0" if byte == 0 else "x" for byte in head[:4])
    told = _BY_ZEROS.get(zeros)
    return None if told is None else (told, 0)


_BY_ZEROS = {"x000": "utf-32-le", "000x": "utf-32-be", "x0x0": "utf-16-le", "0x0x": "utf-16-be"}


class _Binary(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...
    def seek(self, offset: int, whence: int = ..., /) -> int: ...
    def close(self) -> None: ...


class Transcoded(io.RawIOBase):
    """The UTF-8 bytes of a UTF-16 or UTF-32 stream, decoded as they are read.

    Positions (`tell`, `seek`) count UTF-8 bytes, so a line's offset read once can be
    read again; seeking back decodes again from the top, as a gzip stream does.
    """

    def __init__(self, inner: _Binary, skip: int, codec: str) -> None:
        super().__init__()
        self._inner, self._skip, self._codec = inner, skip, codec
        self._restart()

    def _restart(self) -> None:
        self._inner.seek(self._skip)
        self._decoder = codecs.getincrementaldecoder(self._codec)(errors=_UNDECODABLE)
        self._pending = b""
        self._taken = 0  # bytes of `_pending` already handed out
        self._position = 0
        self._ended = False

    def _fill(self) -> bool:
        """Decode more when all decoded bytes are handed out; False at the end."""
        while self._taken >= len(self._pending):
            if self._ended:
                return False
            chunk = self._inner.read(_CHUNK)
            if not chunk:
                self._ended = True
            text = self._decoder.decode(chunk, final=not chunk)
            self._pending, self._taken = text.encode("utf-8", "surrogatepass"), 0
        return True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._fill():
            return 0
        view = memoryview(buffer).cast("B")
        count = min(len(view), len(self._pending) - self._taken)
        view[:count] = self._pending[self._taken : self._taken + count]
        self._taken += count
        self._position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence == io.SEEK_END:
            while self._fill():
                self._position += len(self._pending) - self._taken
                self._taken = len(self._pending)
            offset += self._position
        if offset < 0:
            raise ValueError(f"negative seek position {offset}")
        if offset < self._position:
            self._restart()
        while self._position < offset and self._fill():
            step = min(offset - self._position, len(self._pending) - self._taken)
            self._taken += step
            self._position += step
        return self._position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        self._inner.close()
        super().close()
