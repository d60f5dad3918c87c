"""The apps' pure helpers: stream parameters, the token stream and SSE framing."""

import asyncio
import json

import pytest
from servebench_common import (
    DEFAULT_CHUNKS,
    SSE_DONE,
    StreamParams,
    from_grpc_request,
    parse_stream_params,
    sse_event,
    token_stream,
)


def test_defaults_are_fifty_chunks_without_delays():
    assert parse_stream_params({}) == StreamParams(DEFAULT_CHUNKS, 0, 0)
    assert DEFAULT_CHUNKS == 50


def test_query_overrides_the_json_body():
    body = json.dumps({"chunks": 7, "ttft_ms": 100}).encode()
    params = parse_stream_params({"chunks": "3", "token_delay_ms": "5"}, body)
    assert params == StreamParams(chunks=3, ttft_ms=100, token_delay_ms=5)


@pytest.mark.parametrize(
    "query, body",
    [
        ({"chunks": "x"}, None),
        ({"chunks": "-1"}, None),
        ({"ttft_ms": "600001"}, None),
        ({}, b"not json"),
        ({}, b"[1, 2]"),
        ({}, json.dumps({"chunks": True}).encode()),
    ],
)
def test_bad_parameters_raise_value_error(query, body):
    with pytest.raises(ValueError):
        parse_stream_params(query, body)


def test_zero_chunks_is_allowed_over_http_and_means_default_over_grpc():
    assert parse_stream_params({"chunks": "0"}).chunks == 0
    assert from_grpc_request(0, 0, 0).chunks == DEFAULT_CHUNKS
    assert from_grpc_request(2, 10, 1) == StreamParams(2, 10, 1)


def test_token_stream_waits_ttft_then_each_token_delay():
    slept = []

    async def fake_sleep(seconds):
        slept.append(seconds)

    async def collect():
        params = StreamParams(chunks=4, ttft_ms=250, token_delay_ms=20)
        return [t async for t in token_stream(params, sleep=fake_sleep)]

    tokens = asyncio.run(collect())
    assert tokens == ["tok-0", "tok-1", "tok-2", "tok-3"]
    assert slept == [0.25, 0.02, 0.02, 0.02]


def test_token_stream_without_delays_never_sleeps():
    async def no_sleep(_seconds):
        raise AssertionError("must not sleep")

    async def collect():
        return [t async for t in token_stream(StreamParams(3, 0, 0), sleep=no_sleep)]

    assert len(asyncio.run(collect())) == 3


def test_sse_framing():
    assert sse_event(3, "tok-3") == b'data: {"index":3,"token":"tok-3"}\n\n'
    assert SSE_DONE == b"data: [DONE]\n\n"
