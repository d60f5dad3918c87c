"""gRPC ingress versions of the unary and streaming chains (proto/servebench.proto)."""
