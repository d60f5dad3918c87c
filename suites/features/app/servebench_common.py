"""Pure helpers shared by servebench's Ray Serve apps (no Ray import, tested by pytest).

The streaming workload: a request asks for `chunks` tokens (default 50); the first
arrives after `ttft_ms`, each later one `token_delay_ms` after the one before. Over
HTTP every token is one Server-Sent Event and the stream ends with `data: [DONE]`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

DEFAULT_CHUNKS = 50
MAX_CHUNKS = 1_000_000
MAX_DELAY_MS = 600_000
SSE_DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True)
class StreamParams:
    """How many tokens to stream and how slowly."""

    chunks: int = DEFAULT_CHUNKS
    ttft_ms: int = 0
    token_delay_ms: int = 0


def _int_in_range(name: str, value: object, low: int, high: int) -> int:
    number = None
    if not isinstance(value, bool):  # JSON true/false are not numbers here
        try:
            number = int(value)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            number = None
    if number is None:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= number <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {number}")
    return number


def parse_stream_params(
    query: Mapping[str, str], body: bytes | None = None
) -> StreamParams:
    """Reads `chunks`, `ttft_ms` and `token_delay_ms` from a JSON body and the query.

    The query string wins over the body; anything missing takes its default.
    Raises ValueError for a malformed body or an out-of-range value.
    """
    values: dict = {}
    if body:
        try:
            decoded = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"request body is not JSON: {err}") from None
        if not isinstance(decoded, dict):
            raise ValueError("request body must be a JSON object")
        values.update(decoded)
    values.update({k: v for k, v in query.items()})
    return StreamParams(
        chunks=_int_in_range(
            "chunks", values.get("chunks", DEFAULT_CHUNKS), 0, MAX_CHUNKS
        ),
        ttft_ms=_int_in_range("ttft_ms", values.get("ttft_ms", 0), 0, MAX_DELAY_MS),
        token_delay_ms=_int_in_range(
            "token_delay_ms", values.get("token_delay_ms", 0), 0, MAX_DELAY_MS
        ),
    )


def from_grpc_request(chunks: int, ttft_ms: int, token_delay_ms: int) -> StreamParams:
    """The gRPC request's fields as StreamParams (`chunks == 0` means the default)."""
    return StreamParams(
        chunks=_int_in_range("chunks", chunks or DEFAULT_CHUNKS, 0, MAX_CHUNKS),
        ttft_ms=_int_in_range("ttft_ms", ttft_ms, 0, MAX_DELAY_MS),
        token_delay_ms=_int_in_range("token_delay_ms", token_delay_ms, 0, MAX_DELAY_MS),
    )


def token_text(index: int) -> str:
    """The text of token `index`."""
    return f"tok-{index}"


async def token_stream(
    params: StreamParams,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> AsyncIterator[str]:
    """Yields `params.chunks` tokens, waiting `ttft_ms` before the first and
    `token_delay_ms` before each later one."""
    for index in range(params.chunks):
        delay_ms = params.ttft_ms if index == 0 else params.token_delay_ms
        if delay_ms > 0:
            await sleep(delay_ms / 1000.0)
        yield token_text(index)


def sse_event(index: int, token: str) -> bytes:
    """One Server-Sent Event carrying one token as a small JSON object."""
    payload = json.dumps({"index": index, "token": token}, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()
