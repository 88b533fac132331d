"""Pure-Python statement of what libmini_llm computes, used to check the native results."""

from __future__ import annotations

import math

VOCAB_SIZE = 32000


def fnv1a32(data: bytes) -> int:
    """32-bit FNV-1a hash."""
    value = 2166136261
    for byte in data:
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return value


def _tokens(text: bytes) -> list[bytes]:
    tokens, current = [], bytearray()
    for byte in text:
        if 48 <= byte <= 57 or 97 <= byte <= 122:
            current.append(byte)
        elif 65 <= byte <= 90:
            current.append(byte + 32)
        elif current:
            tokens.append(bytes(current))
            current.clear()
    if current:
        tokens.append(bytes(current))
    return tokens


def tokenize(text: str) -> list[int]:
    """Token ids as MiniLLMTokenize computes them."""
    return [fnv1a32(token) % VOCAB_SIZE for token in _tokens(text.encode("utf-8"))]


def score(text: str) -> float:
    """Score as MiniLLMScore computes it."""
    ids = tokenize(text)
    if not ids:
        return 0.0
    return sum(math.log(1.0 + i) for i in ids) / len(ids) / math.log(VOCAB_SIZE)
