"""Streaming chain: `MyDeployment` -> `GrandChildDeployment`, answered as SSE.

`GET` or `POST <route_prefix>` streams `chunks` events (default 50), each
`data: {"index": i, "token": "tok-i"}`, then `data: [DONE]`. The query string
(`?chunks=50&ttft_ms=0&token_delay_ms=0`) or a JSON body sets the shape; a bad
value answers 400.
"""

from collections.abc import AsyncIterator

from ray import serve
from ray.serve.handle import DeploymentHandle
from servebench_common import (
    SSE_DONE,
    StreamParams,
    parse_stream_params,
    sse_event,
    token_stream,
)
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse


@serve.deployment(max_ongoing_requests=100_000)
class GrandChildDeployment:
    """Generates the tokens, honouring time-to-first-token and per-token delays."""

    async def __call__(
        self, chunks: int, ttft_ms: int, token_delay_ms: int
    ) -> AsyncIterator[str]:
        params = StreamParams(chunks, ttft_ms, token_delay_ms)
        async for token in token_stream(params):
            yield token


@serve.deployment(max_ongoing_requests=100_000)
class MyDeployment:
    """HTTP ingress: streams the child's tokens to the client as SSE."""

    def __init__(self, child: DeploymentHandle):
        self._child = child.options(stream=True)

    async def __call__(self, request: Request) -> Response:
        body = await request.body() if request.method != "GET" else b""
        try:
            params = parse_stream_params(request.query_params, body)
        except ValueError as err:
            return PlainTextResponse(str(err), status_code=400)
        tokens = self._child.remote(
            params.chunks, params.ttft_ms, params.token_delay_ms
        )

        async def events() -> AsyncIterator[bytes]:
            index = 0
            async for token in tokens:
                yield sse_event(index, token)
                index += 1
            yield SSE_DONE

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )


app = MyDeployment.bind(GrandChildDeployment.bind())
