"""Content-Encoding for the asynchronous client: gzip and deflate, inflated within a cap.

urllib3 inflates what the synchronous client reads; h11 leaves bodies as they
came, so this does it for :mod:`.async_client`, with the standard library's
zlib. Every call is told how many bytes it may produce at most, so a small
compressed body that inflates to gigabytes (a "gzip bomb") never takes more
memory than the response cap. Encodings read as urllib3 reads them when no
optional codec is installed: ``gzip``/``x-gzip`` (several members too) and
``deflate`` (zlib-wrapped or raw), stacked in any order; a body with any other
encoding (``br``, ``zstd``...) is kept as it came. No HTTP library in here.
"""

from __future__ import annotations

import zlib

_GZIP = 16 + zlib.MAX_WBITS
_ZLIB = zlib.MAX_WBITS
_RAW_DEFLATE = -zlib.MAX_WBITS


class DecodeError(ValueError):
    """The body is not in the encoding its Content-Encoding names."""


class _Stage:
    """One encoding undone; what the cap left unread waits in ``tail``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tail = b""
        self._members = 0  # gzip members finished
        self._first = True  # deflate: no byte decoded yet, the wrapping still unknown
        self._new()

    def _new(self) -> None:
        self._inflate = zlib.decompressobj(_GZIP if self.name == "gzip" else _ZLIB)

    def decode(self, data: bytes, limit: int) -> bytes:
        data = self.tail + data if self.tail else data
        if limit <= 0:  # zlib reads a max_length of 0 as no limit at all
            self.tail = data
            return b""
        try:
            out = self._inflate.decompress(data, limit)
        except zlib.error as exc:
            if self.name == "deflate" and self._first:  # raw deflate, as some servers send
                self._inflate = zlib.decompressobj(_RAW_DEFLATE)
                self._first = False
                return self.decode(data, limit)
            if self._members:  # trailing garbage after whole gzip members is ignored
                self.tail = b""
                return b""
            raise DecodeError(f"The body is not valid {self.name} data: {exc}") from None
        self._first = False
        self.tail = self._inflate.unconsumed_tail
        if self._inflate.eof and self.name == "gzip":
            self._members += 1
            rest = self._inflate.unused_data
            self._new()
            if rest and len(out) < limit:
                return out + self.decode(rest, limit - len(out))
            self.tail = rest
        return out


class Decoder:
    """Undoes a response's Content-Encoding, producing at most ``limit`` bytes a call."""

    __slots__ = ("_stages",)

    def __init__(self, content_encoding: str | None) -> None:
        names = [n.strip().lower() for n in (content_encoding or "").split(",") if n.strip()]
        names = ["gzip" if n == "x-gzip" else n for n in names if n != "identity"]
        known = all(n in ("gzip", "deflate") for n in names)
        # Applied in the order listed, so undone from the last one back.
        self._stages = [_Stage(n) for n in reversed(names)] if known else []

    def decode(self, data: bytes, limit: int) -> bytes:
        """The decoded bytes ``data`` (and what earlier calls left) gives, at most ``limit``."""
        if not self._stages:
            return data[:limit]
        for stage in self._stages:
            data = stage.decode(data, limit)
        return data

    @property
    def pending(self) -> bool:
        """Input is still waiting in a stage (the cap stopped it): call ``decode(b"", ...)``."""
        return any(stage.tail for stage in self._stages)
