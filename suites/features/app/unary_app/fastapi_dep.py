"""Unary echo chain: `ASGIIngressDeployment` (FastAPI) -> `Echo`.

`POST /echo` answers 200 with exactly the request body (any size, 0
included) as `application/octet-stream`; `GET` answers with its (usually empty) body.
The app is deployed at route prefix `/` so that `/echo` needs no redirect (FastAPI
cannot serve an empty path under a prefix); longer prefixes such as `/streaming` still
win for their own paths.
The payload goes through a deployment handle to `Echo`, so every request crosses one
inter-deployment hop, as in the published benchmark.
"""

from fastapi import FastAPI, Request, Response
from ray import serve
from ray.serve.handle import DeploymentHandle

fastapi_app = FastAPI()


@serve.deployment(max_ongoing_requests=100_000)
class Echo:
    """Returns its argument unchanged."""

    async def __call__(self, payload: bytes) -> bytes:
        return payload


@serve.deployment(max_ongoing_requests=100_000)
@serve.ingress(fastapi_app)
class ASGIIngressDeployment:
    """HTTP ingress: forwards the request body to `Echo` and returns the answer."""

    def __init__(self, echo: DeploymentHandle):
        self._echo = echo

    @fastapi_app.api_route("/echo", methods=["GET", "POST", "PUT"])
    async def echo(self, request: Request) -> Response:
        body = await request.body()
        echoed = await self._echo.remote(body)
        return Response(content=echoed, media_type="application/octet-stream")


app = ASGIIngressDeployment.bind(Echo.bind())
