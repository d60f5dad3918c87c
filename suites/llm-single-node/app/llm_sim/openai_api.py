"""OpenAI-compatible requests and responses of the simulated engine.

Shared by the standalone server (`server.py`, JSON bodies) and the Ray Serve LLM
engine (`ray_engine.py`, vLLM's request objects dumped to dicts).

- Prompt size: a prompt given as token ids (`"prompt": [1, 2, ...]`, or a list
  holding one such list) counts one token per id. Text (a completion prompt, or
  the text of every chat message's content) counts ceil(UTF-8 bytes / 4) tokens,
  the usual rule of thumb for BPE tokenizers on English; no tokenizer is loaded.
- Output: exactly `max_tokens` tokens (EOS is never produced), each the text
  `" tok"` (4 bytes, so echoed output counts back to the same number of tokens).
  As in vLLM, `max_tokens` defaults to 16 for completions and, for chat
  (`max_completion_tokens` or `max_tokens`), to what is left of `max_model_len`
  after the prompt, and is cut to that room; a prompt that fills the context is
  refused (400).
- Streams follow vLLM: one chunk per engine output (several tokens when the
  reader fell behind), `finish_reason: "length"` on the last token chunk; with
  `stream_options.include_usage` a final chunk with empty `choices` and `usage`;
  with `include_usage` and `continuous_usage_stats` also `usage` on every chunk
  (cumulative `completion_tokens`, so a client knows how many tokens each chunk
  carried). Chat streams open with the assistant role delta, sent with the first
  token as vLLM does. Then `data: [DONE]`.
"""

import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from llm_sim.engine import EngineCore

TOKEN_TEXT = " tok"


class RequestError(Exception):
    """A request the engine refuses, with its HTTP status (vLLM's error body)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status

    def body(self) -> dict:
        kind = "NotFoundError" if self.status == 404 else "BadRequestError"
        error = {"message": str(self), "type": kind, "param": None}
        return {"error": {**error, "code": self.status}}


@dataclass(frozen=True)
class SimRequest:
    """What the engine needs from a completion or chat request."""

    chat: bool
    prompt_tokens: int
    max_tokens: int
    stream: bool
    include_usage: bool
    continuous_usage: bool


def text_tokens(text: str) -> int:
    return -(-len(text.encode()) // 4)


def _prompt_tokens(prompt) -> int:
    if isinstance(prompt, str):
        return text_tokens(prompt)
    if isinstance(prompt, list) and prompt and all(type(t) is int for t in prompt):
        return len(prompt)
    if isinstance(prompt, list) and len(prompt) == 1:
        return _prompt_tokens(prompt[0])
    raise RequestError("prompt must be a string or a list of token ids (one prompt)")


def _chat_tokens(messages) -> int:
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty list")
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, str):
            total += text_tokens(content)
        elif isinstance(content, list):
            total += sum(text_tokens(p.get("text") or "") for p in content)
    return total


def parse_request(body: Mapping, *, chat: bool, max_model_len: int) -> SimRequest:
    """Validates a request body; raises RequestError (400) when it is refused."""
    if chat:
        prompt_tokens = _chat_tokens(body.get("messages"))
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    else:
        prompt_tokens = _prompt_tokens(body.get("prompt"))
        max_tokens = body.get("max_tokens", 16)
    if prompt_tokens < 1:
        raise RequestError("the prompt is empty")
    if prompt_tokens >= max_model_len:
        raise RequestError(
            f"Input length ({prompt_tokens}) leaves no room in the model's maximum "
            f"context length ({max_model_len})."
        )
    if max_tokens is not None and (type(max_tokens) is not int or max_tokens < 1):
        raise RequestError("max_tokens must be an integer >= 1")
    room = max_model_len - prompt_tokens
    max_tokens = room if max_tokens is None else min(max_tokens, room)
    if body.get("n", 1) not in (1, None):
        raise RequestError("only n=1 is supported")
    options = body.get("stream_options") or {}
    include_usage = bool(options.get("include_usage"))
    return SimRequest(
        chat=chat,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        stream=bool(body.get("stream")),
        include_usage=include_usage,
        continuous_usage=include_usage and bool(options.get("continuous_usage_stats")),
    )


def _usage(req: SimRequest, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": req.prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": req.prompt_tokens + completion_tokens,
    }


def _head(req: SimRequest, request_id: str | None, model: str, stream: bool) -> dict:
    if req.chat:
        prefix, kind = (
            "chatcmpl",
            "chat.completion.chunk" if stream else "chat.completion",
        )
    else:
        prefix, kind = "cmpl", "text_completion"
    return {
        "id": f"{prefix}-{request_id or uuid.uuid4().hex}",
        "object": kind,
        "created": int(time.time()),
        "model": model,
    }


def _sse(payload: dict) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


async def stream_response(
    core: EngineCore, req: SimRequest, model: str, request_id: str | None = None
) -> AsyncIterator[str]:
    """The streamed answer as SSE events (`data: {json}\\n\\n` strings)."""
    head = _head(req, request_id, model, stream=True)
    done = 0
    async for new in core.generate(req.prompt_tokens, req.max_tokens):
        done += new
        finish = "length" if done == req.max_tokens else None
        text = TOKEN_TEXT * new
        if req.chat:
            delta = {"content": text}
            choice = {"index": 0, "delta": delta, "logprobs": None}
        else:
            choice = {"index": 0, "text": text, "logprobs": None}
        choice["finish_reason"] = finish
        chunk = {**head, "choices": [choice]}
        if req.continuous_usage:
            chunk["usage"] = _usage(req, done)
        event = _sse(chunk)
        if req.chat and done == new:
            role = {"index": 0, "delta": {"role": "assistant", "content": ""}}
            opening = {**head, "choices": [{**role, "logprobs": None}]}
            if req.continuous_usage:
                opening["usage"] = _usage(req, 0)
            event = _sse(opening) + event
        yield event
    if req.include_usage:
        yield _sse({**head, "choices": [], "usage": _usage(req, done)})
    yield "data: [DONE]\n\n"


async def full_response(
    core: EngineCore, req: SimRequest, model: str, request_id: str | None = None
) -> dict:
    """The non-streamed answer (a completion or chat.completion object)."""
    done = 0
    async for new in core.generate(req.prompt_tokens, req.max_tokens):
        done += new
    text = TOKEN_TEXT * done
    if req.chat:
        message = {"role": "assistant", "content": text}
        choice = {"index": 0, "message": message, "logprobs": None}
    else:
        choice = {"index": 0, "text": text, "logprobs": None}
    choice["finish_reason"] = "length"
    head = _head(req, request_id, model, stream=False)
    return {**head, "choices": [choice], "usage": _usage(req, done)}
