"""gRPC ingress versions of both chains, serving `servebench.v1.ServeBench`.

Serve's gRPC proxy (or HAProxy) routes a call by the `application` metadata key:
- `unary_app`: `GrpcEchoIngress.Echo` -> `Echo`; the reply's payload is the request's.
- `streaming_app`: `GrpcStreamIngress.Stream` -> `GrandChildDeployment`; one `Chunk`
  per token (`chunks` of them, default 50), `index` counting from 0.
The Serve config must list `servebench_pb2_grpc.add_ServeBenchServicer_to_server` in
`grpc_options.grpc_servicer_functions`.
"""

from collections.abc import AsyncIterator

from ray import serve
from ray.serve.handle import DeploymentHandle
from servebench_common import from_grpc_request
from servebench_pb2 import Chunk, EchoReply, EchoRequest, StreamRequest
from streaming_app.app import GrandChildDeployment
from unary_app.fastapi_dep import Echo


@serve.deployment(max_ongoing_requests=100_000)
class GrpcEchoIngress:
    """gRPC ingress of the unary chain (method names are the proto's)."""

    def __init__(self, echo: DeploymentHandle):
        self._echo = echo

    async def Echo(self, request: EchoRequest) -> EchoReply:
        payload = await self._echo.remote(request.payload)
        return EchoReply(payload=payload)


@serve.deployment(max_ongoing_requests=100_000)
class GrpcStreamIngress:
    """gRPC ingress of the streaming chain."""

    def __init__(self, child: DeploymentHandle):
        self._child = child.options(stream=True)

    async def Stream(self, request: StreamRequest) -> AsyncIterator[Chunk]:
        params = from_grpc_request(
            request.chunks, request.ttft_ms, request.token_delay_ms
        )
        index = 0
        async for token in self._child.remote(
            params.chunks, params.ttft_ms, params.token_delay_ms
        ):
            yield Chunk(data=token.encode(), index=index)
            index += 1


unary_app = GrpcEchoIngress.bind(Echo.bind())
streaming_app = GrpcStreamIngress.bind(GrandChildDeployment.bind())
