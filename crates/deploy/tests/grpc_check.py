"""gRPC check of a deployed servebench cluster with the real grpc library (e2e test).

Usage: python grpc_check.py HOST:PORT   (suites/features/app on PYTHONPATH)
Prints a JSON summary; exits non-zero on any wrong answer.
"""

import json
import os
import sys

import grpc
import servebench_pb2 as pb
import servebench_pb2_grpc as pb_grpc


def main() -> None:
    address = sys.argv[1]
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.ServeBenchStub(channel)
        unary = (("application", "grpc_unary"),)
        streaming = (("application", "grpc_streaming"),)
        payload = os.urandom(10 * 1024)
        reply = stub.Echo(pb.EchoRequest(payload=payload), metadata=unary, timeout=60)
        assert reply.payload == payload, "10 KiB echo differs"
        empty = stub.Echo(pb.EchoRequest(payload=b""), metadata=unary, timeout=60)
        assert empty.payload == b"", "empty echo differs"
        chunks = list(stub.Stream(pb.StreamRequest(), metadata=streaming, timeout=60))
        assert [c.index for c in chunks] == list(range(50)), "50 chunks in order"
        assert chunks[0].data == b"tok-0" and chunks[49].data == b"tok-49"
        few = list(
            stub.Stream(pb.StreamRequest(chunks=3), metadata=streaming, timeout=60)
        )
        assert len(few) == 3
    print(json.dumps({"echo_bytes": len(payload), "stream_chunks": len(chunks)}))


if __name__ == "__main__":
    main()
