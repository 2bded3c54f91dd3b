"""Bytes to text and back, keeping what a file was: encoding, BOM and line endings.

Line endings need no handling here: the text is decoded without newline translation and
libcst keeps every newline it read, so CRLF files stay CRLF.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import tokenize
from dataclasses import dataclass


class DecodeError(Exception):
    """The bytes are not text in the encoding the file declares."""


@dataclass(frozen=True)
class Decoded:
    text: str
    # A Python codec name; "utf-8-sig" means the file starts with a BOM and keeps it.
    encoding: str


def decode(data: bytes) -> Decoded:
    """Decode source bytes the way Python does (PEP 263 cookie, BOM, UTF-8 default)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        # tokenize says "invalid or missing encoding declaration" for any non-UTF-8 byte in
        # the first two lines, which misleads when the file simply is not UTF-8.
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise DecodeError(_not_decodable(data, bad, "UTF-8")) from None
        raise DecodeError(str(error)) from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        declared = "UTF-8" if encoding in {"utf-8", "utf-8-sig"} else f"{encoding} (declared)"
        raise DecodeError(_not_decodable(data, error, declared)) from None
    except LookupError as error:
        raise DecodeError(f"cannot decode as {encoding}: {error}") from None
    return Decoded(text=text, encoding=encoding)


def _not_decodable(data: bytes, error: UnicodeDecodeError, encoding: str) -> str:
    line = data.count(b"\n", 0, error.start) + 1
    byte = data[error.start : error.start + 1].hex()
    return f"not valid {encoding}: byte 0x{byte} at offset {error.start} (line {line})"


def encode(text: str, like: Decoded) -> bytes:
    """Encode `text` as the original file was encoded (BOM included)."""
    return text.encode(like.encoding)


def source_hash(source: bytes) -> str:
    """Identifies the bytes a result was computed from (to refuse stale writes)."""
    return hashlib.sha256(source).hexdigest()


def unified_diff(old: str, new: str, path: str) -> str:
    """A `git diff`-style unified diff; every line ends in "\\n" whatever the file uses."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    out: list[str] = []
    for line in lines:
        body = line.rstrip("\r\n")
        out.append(body + "\n")
        if not line.endswith(("\n", "\r")):
            out.append("\\ No newline at end of file\n")
    return "".join(out)
