"""Request parsing and the OpenAI-compatible answers (SSE chunks, usage) of the
simulated engine, run on a real event loop at a small time factor."""

import asyncio
import json

import pytest
from llm_sim.engine import EngineCore
from llm_sim.openai_api import (
    RequestError,
    full_response,
    parse_request,
    stream_response,
    text_tokens,
)
from llm_sim.scheduler import EngineParams

PARAMS = EngineParams(base_ms=1.0, per_decode_seq_ms=0.1, time_factor=0.5)


def collect(body: dict, chat: bool = False) -> list[str]:
    async def go() -> list[str]:
        core = EngineCore(PARAMS)
        core.start()
        req = parse_request(body, chat=chat, max_model_len=PARAMS.max_model_len)
        try:
            return [event async for event in stream_response(core, req, "m", "rid")]
        finally:
            await core.stop()

    return asyncio.run(go())


def chunks(events: list[str]) -> list[dict]:
    text = "".join(events)
    assert text.endswith("data: [DONE]\n\n")
    parts = [p for p in text.split("\n\n") if p]
    assert all(p.startswith("data: ") for p in parts)
    return [json.loads(p[6:]) for p in parts[:-1]]


def test_prompt_sizes():
    def size(prompt) -> int:
        return parse_request(
            {"prompt": prompt}, chat=False, max_model_len=4096
        ).prompt_tokens

    assert size(list(range(512))) == 512
    assert size([list(range(7))]) == 7
    assert size("abcdefgh") == 2 == text_tokens("abcdefg")
    messages = [
        {"role": "user", "content": "x" * 40},
        {"role": "system", "content": "abcd"},
    ]
    assert (
        parse_request(
            {"messages": messages}, chat=True, max_model_len=4096
        ).prompt_tokens
        == 11
    )


def test_max_tokens_defaults_and_limits():
    assert (
        parse_request({"prompt": "hi"}, chat=False, max_model_len=100).max_tokens == 16
    )
    chat = parse_request(
        {"messages": [{"content": "abcd"}]}, chat=True, max_model_len=100
    )
    assert chat.max_tokens == 99
    capped = parse_request(
        {"prompt": [1] * 90, "max_tokens": 50}, chat=False, max_model_len=100
    )
    assert capped.max_tokens == 10
    for body in (
        {"prompt": [1] * 100},
        {"prompt": "x", "max_tokens": 0},
        {"prompt": ["a", "b"]},
    ):
        with pytest.raises(RequestError):
            parse_request(body, chat=False, max_model_len=100)


def test_completion_stream_with_continuous_usage():
    body = {
        "prompt": [5] * 12,
        "max_tokens": 6,
        "stream": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": True},
    }
    got = chunks(collect(body))
    token_chunks, final = got[:-1], got[-1]
    assert all(c["object"] == "text_completion" and c["id"] == "cmpl-rid" for c in got)
    counts = [c["usage"]["completion_tokens"] for c in token_chunks]
    assert counts == sorted(counts) and counts[-1] == 6
    assert "".join(c["choices"][0]["text"] for c in token_chunks) == " tok" * 6
    assert [c["choices"][0]["finish_reason"] for c in token_chunks][-1] == "length"
    assert all(c["choices"][0]["finish_reason"] is None for c in token_chunks[:-1])
    assert final["choices"] == []
    assert final["usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 6,
        "total_tokens": 18,
    }


def test_usage_only_when_asked():
    plain = chunks(collect({"prompt": "abcd", "max_tokens": 3, "stream": True}))
    assert all("usage" not in c for c in plain) and len(plain) >= 1
    final_only = chunks(
        collect(
            {
                "prompt": "abcd",
                "max_tokens": 3,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        )
    )
    assert ["usage" in c for c in final_only] == [False] * (len(final_only) - 1) + [
        True
    ]


def test_chat_stream_opens_with_the_role():
    body = {
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 4,
        "stream": True,
    }
    got = chunks(collect(body, chat=True))
    assert got[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" for c in got)
    assert "".join(c["choices"][0]["delta"]["content"] for c in got) == " tok" * 4
    assert got[-1]["choices"][0]["finish_reason"] == "length"


def test_non_streaming_answers():
    async def go(body: dict, chat: bool) -> dict:
        core = EngineCore(PARAMS)
        core.start()
        req = parse_request(body, chat=chat, max_model_len=4096)
        try:
            return await full_response(core, req, "m")
        finally:
            await core.stop()

    completion = asyncio.run(go({"prompt": [1, 2, 3], "max_tokens": 5}, chat=False))
    assert completion["object"] == "text_completion"
    assert completion["choices"][0]["text"] == " tok" * 5
    assert completion["usage"]["completion_tokens"] == 5
    chat = asyncio.run(
        go({"messages": [{"content": "hey"}], "max_tokens": 2}, chat=True)
    )
    assert chat["object"] == "chat.completion"
    assert chat["choices"][0]["message"] == {"role": "assistant", "content": " tok tok"}
    assert chat["choices"][0]["finish_reason"] == "length"


def test_engine_timing_follows_the_cost_model_and_time_factor():
    params = EngineParams(base_ms=20.0, per_prefill_token_ms=0.5, time_factor=2.0)

    async def go() -> tuple[float, float, dict]:
        core = EngineCore(params)
        core.start()
        loop = asyncio.get_running_loop()
        start = loop.time()
        times = [loop.time() async for _ in core.generate(40, 3)]
        stats = core.stats()
        await core.stop()
        return times[0] - start, times[-1] - times[0], stats

    first, rest, stats = asyncio.run(go())
    assert first == pytest.approx(2.0 * (20 + 0.5 * 40) / 1000, rel=0.25)
    assert rest == pytest.approx(2.0 * 2 * 20 / 1000, rel=0.25)
    assert stats["steps"] == 3 and stats["running"] == 0
