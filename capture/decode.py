"""Content-Encoding handling for recorded bodies (gzip, deflate, zstd, br), incremental so that
streamed chunks keep their arrival times."""

from __future__ import annotations

import zlib
from typing import Protocol

import brotli  # type: ignore[import-untyped]
import zstandard

__all__ = ["Decoder", "decode_body", "make_decoder"]


class Decoder(Protocol):
    def __call__(self, data: bytes) -> bytes: ...


class _Identity:
    def __call__(self, data: bytes) -> bytes:
        return data


class _Zlib:
    def __init__(self, wbits: int) -> None:
        self._d = zlib.decompressobj(wbits)

    def __call__(self, data: bytes) -> bytes:
        return self._d.decompress(data)


class _Zstd:
    def __init__(self) -> None:
        self._d = zstandard.ZstdDecompressor().decompressobj()

    def __call__(self, data: bytes) -> bytes:
        return bytes(self._d.decompress(data))


class _Brotli:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def __call__(self, data: bytes) -> bytes:
        return bytes(self._d.process(data))


def make_decoder(content_encoding: str | None) -> Decoder:
    """A stateful decoder for one body; raises ValueError for an unknown encoding."""
    enc = (content_encoding or "").strip().lower()
    if enc in ("", "identity"):
        return _Identity()
    if enc in ("gzip", "x-gzip"):
        return _Zlib(16 + zlib.MAX_WBITS)
    if enc == "deflate":
        return _Zlib(32 + zlib.MAX_WBITS)  # zlib or gzip header, auto-detected
    if enc == "zstd":
        return _Zstd()
    if enc == "br":
        return _Brotli()
    raise ValueError(f"unsupported content-encoding {enc!r}")


def decode_body(data: bytes, content_encoding: str | None) -> bytes:
    return make_decoder(content_encoding)(data)
