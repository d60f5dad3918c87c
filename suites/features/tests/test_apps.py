"""The Ray Serve apps without a cluster: the bound graphs, their limits, the proto stubs,
and the ingress code driven with fake deployment handles."""

import asyncio

import servebench_pb2 as pb
import servebench_pb2_grpc as pb_grpc
from grpc_app import apps as grpc_apps
from ray import serve
from starlette.requests import Request
from streaming_app import app as streaming
from unary_app import fastapi_dep as unary


class FakeResponse:
    """What `DeploymentHandle.remote()` returns for a unary call: an awaitable."""

    def __init__(self, value):
        self._value = value

    def __await__(self):
        async def get():
            return self._value

        return get().__await__()


class FakeEchoHandle:
    def remote(self, payload):
        return FakeResponse(payload)


class FakeStreamHandle:
    """A streaming handle whose `remote()` yields the child's tokens."""

    def options(self, stream):
        assert stream is True
        return self

    def remote(self, chunks, ttft_ms, token_delay_ms):
        async def gen():
            for i in range(chunks):
                yield f"tok-{i}"

        return gen()


def test_the_apps_are_bound_with_the_benchmark_limits():
    for application in (
        unary.app,
        streaming.app,
        grpc_apps.unary_app,
        grpc_apps.streaming_app,
    ):
        assert isinstance(application, serve.Application)
    for deployment in (
        unary.Echo,
        unary.ASGIIngressDeployment,
        streaming.MyDeployment,
        streaming.GrandChildDeployment,
        grpc_apps.GrpcEchoIngress,
        grpc_apps.GrpcStreamIngress,
    ):
        assert deployment.max_ongoing_requests == 100_000


def test_proto_stubs_round_trip_and_name_the_service():
    request = pb.EchoRequest(payload=b"\x00" * 10)
    assert pb.EchoRequest.FromString(request.SerializeToString()) == request
    chunk = pb.Chunk(data=b"tok-1", index=1)
    assert pb.Chunk.FromString(chunk.SerializeToString()).index == 1
    assert pb.DESCRIPTOR.package == "servebench.v1"
    assert hasattr(pb_grpc, "add_ServeBenchServicer_to_server")
    assert hasattr(pb_grpc.ServeBenchStub, "__init__")


def test_echo_returns_its_argument():
    echo = unary.Echo.func_or_class()
    assert asyncio.run(echo(b"abc")) == b"abc"
    assert asyncio.run(echo(b"")) == b""


def http_request(method, query=b"", body=b""):
    scope = {
        "type": "http",
        "method": method,
        "path": "/streaming",
        "query_string": query,
        "headers": [],
    }

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


async def read_body(response):
    return b"".join([chunk async for chunk in response.body_iterator])


def test_streaming_ingress_frames_sse_and_ends_with_done():
    ingress = streaming.MyDeployment.func_or_class(FakeStreamHandle())

    async def run():
        response = await ingress(http_request("GET", b"chunks=2"))
        assert response.media_type == "text/event-stream"
        return await read_body(response)

    assert asyncio.run(run()) == (
        b'data: {"index":0,"token":"tok-0"}\n\n'
        b'data: {"index":1,"token":"tok-1"}\n\n'
        b"data: [DONE]\n\n"
    )


def test_streaming_ingress_rejects_bad_parameters_with_400():
    ingress = streaming.MyDeployment.func_or_class(FakeStreamHandle())
    response = asyncio.run(ingress(http_request("POST", body=b"{oops")))
    assert response.status_code == 400


def test_grpc_ingresses_echo_and_stream():
    echo = grpc_apps.GrpcEchoIngress.func_or_class(FakeEchoHandle())
    reply = asyncio.run(echo.Echo(pb.EchoRequest(payload=b"x" * 1024)))
    assert reply.payload == b"x" * 1024

    stream = grpc_apps.GrpcStreamIngress.func_or_class(FakeStreamHandle())

    async def collect():
        return [c async for c in stream.Stream(pb.StreamRequest(chunks=3))]

    chunks = asyncio.run(collect())
    assert [(c.index, c.data) for c in chunks] == [
        (0, b"tok-0"),
        (1, b"tok-1"),
        (2, b"tok-2"),
    ]
