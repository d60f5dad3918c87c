"""The app of deploy's observer test (tests/observe.rs): `Front` -> `Sleeper`.

`GET /sleep` goes through the ingress deployment `Front`, which calls `Sleeper` through a
deployment handle; `Sleeper` sleeps 20 ms per request, so its processing latency as Serve records
it is known, and `Front`'s, the proxy's and the client's each add their own share on top.
"""

import asyncio

from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request
from starlette.responses import PlainTextResponse

SLEEP_S = 0.020


@serve.deployment(max_ongoing_requests=1000)
class Sleeper:
    """Sleeps 20 ms, then answers."""

    async def __call__(self) -> str:
        await asyncio.sleep(SLEEP_S)
        return "slept"


@serve.deployment(max_ongoing_requests=1000)
class Front:
    """HTTP ingress: one call to `Sleeper` per request."""

    def __init__(self, sleeper: DeploymentHandle):
        self._sleeper = sleeper

    async def __call__(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse(await self._sleeper.remote())


app = Front.bind(Sleeper.bind())
