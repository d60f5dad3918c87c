"""servebench's loopback shim for a local Ray cluster (written by `deploy`, not by hand).

`deploy` puts this file first on PYTHONPATH of every process of a local benchmark
cluster and sets SERVEBENCH_BIND_HOST=127.0.0.1. Ray 2.60 binds some servers to all
interfaces whatever the node address is: Serve's gRPC proxy and its fallback proxy
(`[::]:port`), each replica's inter-deployment and direct-ingress gRPC servers, and
HAProxy's stats and Prometheus frontends (`bind *:port`). This shim rewrites those
wildcard addresses to SERVEBENCH_BIND_HOST when the modules are imported, so that no
port of a benchmark cluster is reachable from the network. It changes addresses only,
never the request path, and does nothing when SERVEBENCH_BIND_HOST is unset.
"""

import importlib.abc
import os
import sys

_HOST = os.environ.get("SERVEBENCH_BIND_HOST", "")
_WILDCARDS = ("", "*", "0.0.0.0", "::", "[::]", "[::0]")


def _to_host(address):
    if isinstance(address, bytes):
        return _to_host(address.decode()).encode()
    host, sep, port = address.rpartition(":")
    if sep and host in _WILDCARDS:
        return f"{_HOST}:{port}"
    return address


def _wrap_port_methods(cls):
    for name in ("add_insecure_port", "add_secure_port"):
        original = cls.__dict__.get(name)
        if original is None or getattr(original, "_servebench_wrapped", False):
            continue

        def wrapper(self, address, *args, _original=original, **kwargs):
            return _original(self, _to_host(address), *args, **kwargs)

        wrapper._servebench_wrapped = True
        wrapper.__name__ = name
        setattr(cls, name, wrapper)


def _patch_grpc_aio_server(module):
    _wrap_port_methods(module.Server)


def _patch_grpc_server(module):
    _wrap_port_methods(module._Server)


def _patch_haproxy_templates(module):
    for name, value in list(vars(module).items()):
        if name.endswith("TEMPLATE") and isinstance(value, str):
            patched = value.replace("bind *:{{", f"bind {_HOST}:{{{{").replace(
                "bind :{{", f"bind {_HOST}:{{{{"
            )
            setattr(module, name, patched)


_PATCHES = {
    "grpc.aio._server": _patch_grpc_aio_server,
    "grpc._server": _patch_grpc_server,
    "ray.serve._private.haproxy_templates": _patch_haproxy_templates,
}


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader, patch):
        self._loader = loader
        self._patch = patch

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._patch(module)


class _PatchingFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        patch = _PATCHES.get(fullname)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, patch)
                return spec
        return None


if _HOST:
    sys.meta_path.insert(0, _PatchingFinder())
