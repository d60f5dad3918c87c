"""End to end: the app on a local Ray cluster with Serve, reached over HTTP (marked `ray`)."""

import json
import socket
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import ray
import recsys_app
from ray import serve
from recsys_app.app import build


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        return json.loads(response.read())


def check_scores(answer):
    """What a client accepts: exactly 32 numbers in [0, 1] under `scores`."""
    scores = answer["scores"]
    assert len(scores) == 32
    assert all(isinstance(s, float) and 0 <= s <= 1 for s in scores)


@pytest.mark.ray
def test_serve_answers_32_scores_per_request(monkeypatch):
    # The replicas import recsys_app as the Rust side's clusters do: from PYTHONPATH.
    monkeypatch.setenv("PYTHONPATH", str(Path(recsys_app.__file__).parent.parent))
    # Left unset, a new local cluster turns token auth on and writes ~/.ray/auth_token.
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    port = free_port()
    ray.init(num_cpus=4, include_dashboard=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(
            build({"cardinality": 1000, "backend": "auto"}),
            name="recsys",
            route_prefix="/",
        )
        base = f"http://127.0.0.1:{port}"
        check_scores(get_json(f"{base}/?user_id=1"))
        check_scores(get_json(f"{base}/"))
        with ThreadPoolExecutor(8) as pool:
            for answer in pool.map(
                get_json, [f"{base}/?user_id={i}" for i in range(16)]
            ):
                check_scores(answer)

        info = get_json(f"{base}/info")
        # "auto" is numpy here even with torch and a GPU: Ray gave the replica no GPU.
        assert info["backend"] == "numpy" and info["blas_threads"] == 1
        assert info["args"]["cardinality"] == 1000
        deployments = serve.status().applications["recsys"].deployments
        assert set(deployments) == {"IngressDeployment", "RankerDeployment"}
    finally:
        serve.shutdown()
        ray.shutdown()
