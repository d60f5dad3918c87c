"""End to end through Ray Serve LLM: a local Ray cluster (`ray start --head` on
loopback, in a session and temp dir of its own), the app deployed through Serve's REST
API on the dashboard (import path `llm_sim.serve_app:build`, as the deploy crate
does it) with the simulated engine, streamed completions and chat completions
through Serve's HTTP proxy. Prints what it saw (deployment names, deploy time, RSS per replica, the
`/v1/models` answer) when run with `-s`. Deselect with `-m "not ray"`."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from conftest import APP_DIR

MODEL = "openai/gpt-oss-20b"
RAY = str(Path(sys.executable).with_name("ray"))


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def dashboard():
    """A local cluster; yields its dashboard URL, kills every process of it after."""
    gcs, dash, agent, client, worker = free_ports(5)
    temp_dir = tempfile.mkdtemp(prefix="llmsim-", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(PYTHONPATH=str(APP_DIR), RAY_AUTH_MODE="disabled")
    args = [
        RAY,
        "start",
        "--head",
        "--node-ip-address=127.0.0.1",
        f"--port={gcs}",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dash}",
        f"--dashboard-agent-listen-port={agent}",
        f"--ray-client-server-port={client}",
        f"--min-worker-port={worker}",
        f"--max-worker-port={worker + 100}",
        f"--temp-dir={temp_dir}",
        "--num-cpus=8",
        "--disable-usage-stats",
    ]
    started = subprocess.run(
        args, check=False, env=env, start_new_session=True, capture_output=True
    )
    session = _session_of(temp_dir)
    try:
        assert started.returncode == 0, started.stderr.decode()[-2000:]
        yield f"http://127.0.0.1:{dash}"
    finally:
        for proc in _cluster_processes(temp_dir, session):
            proc.kill()
        psutil.wait_procs(_cluster_processes(temp_dir, session), timeout=10)
        left = _cluster_processes(temp_dir, session)
        assert not left, f"Ray processes left: {left}"
        shutil.rmtree(temp_dir, ignore_errors=True)


def _session_of(temp_dir: str) -> int | None:
    for proc in psutil.process_iter(["cmdline"]):
        if any(temp_dir in part for part in proc.info["cmdline"] or []):
            return os.getsid(proc.pid)
    return None


def _cluster_processes(temp_dir: str, session: int | None) -> list[psutil.Process]:
    """Every process of the cluster: its session, or its temp dir on the command line."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            ours = session is not None and os.getsid(proc.pid) == session
            ours = ours or any(temp_dir in part for part in proc.info["cmdline"] or [])
        except (ProcessLookupError, psutil.Error):
            continue
        if ours and proc.pid != os.getpid() and proc.status() != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def request(url: str, body: dict | None = None, method: str = "POST"):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url, data, {"Content-Type": "application/json"}, method=method
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read().decode()


def post(url: str, body: dict) -> list[dict]:
    text = request(url, body)
    if not body.get("stream"):
        return [json.loads(text)]
    events = [e for e in text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    return [json.loads(e[6:]) for e in events[:-1]]


def deploy(dashboard: str, http_port: int, args: dict, timeout_s: float = 600) -> dict:
    """Serve's REST API: applies the app, waits until it runs; returns its status."""
    config = {
        "http_options": {"host": "127.0.0.1", "port": http_port},
        "applications": [
            {
                "name": "llm",
                "route_prefix": "/",
                "import_path": "llm_sim.serve_app:build",
                "args": args,
            }
        ],
    }
    api = dashboard + "/api/serve/applications/"
    request(api, config, method="PUT")
    deadline = time.monotonic() + timeout_s
    while True:
        app = json.loads(request(api, method="GET"))["applications"].get("llm", {})
        assert app.get("status") != "DEPLOY_FAILED", app.get("message")
        if app.get("status") == "RUNNING":
            return app
        assert time.monotonic() < deadline, f"not running after {timeout_s} s: {app}"
        time.sleep(1)


@pytest.mark.ray
def test_build_openai_app_with_the_simulated_engine(dashboard):
    (http_port,) = free_ports(1)
    started = time.monotonic()
    app = deploy(dashboard, http_port, {"num_replicas": 1, "ingress_replicas": 1})
    deploy_s = time.monotonic() - started
    names = sorted(app["deployments"])
    assert names == ["LLMServer:openai--gpt-oss-20b", "OpenAiIngress"]

    base = f"http://127.0.0.1:{http_port}/v1"
    models = json.loads(request(base + "/models", method="GET"))
    assert [m["id"] for m in models["data"]] == [MODEL]

    options = {"include_usage": True, "continuous_usage_stats": True}
    body = {"model": MODEL, "prompt": list(range(512)), "max_tokens": 128}
    for _ in range(3):
        chunks = post(
            base + "/completions", {**body, "stream": True, "stream_options": options}
        )
        assert chunks[-1]["usage"]["completion_tokens"] == 128
        assert "".join(c["choices"][0]["text"] for c in chunks[:-1]) == " tok" * 128
    messages = [{"role": "user", "content": "Hello there, engine."}]
    chat = {"model": MODEL, "messages": messages, "max_tokens": 16, "stream": True}
    chunks = post(base + "/chat/completions", {**chat, "stream_options": options})
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 16,
        "total_tokens": 21,
    }
    (answer,) = post(base + "/completions", {**body, "max_tokens": 4})
    assert answer["choices"][0]["text"] == " tok" * 4
    (answer,) = post(base + "/chat/completions", {**chat, "stream": False})
    assert answer["usage"]["completion_tokens"] == 16

    rss = {}
    for proc in psutil.process_iter(["cmdline", "memory_info"]):
        title = (proc.info["cmdline"] or [""])[0]
        if title.startswith(
            ("ray::ServeReplica", "ray::ServeController", "ray::ProxyActor")
        ):
            rss[title] = round(proc.info["memory_info"].rss / 2**20)
    print(f"\ndeployments: {names}\ndeploy time: {deploy_s:.1f} s\nRSS MiB: {rss}")
    print(f"/v1/models: {json.dumps(models)}")
    request(dashboard + "/api/serve/applications/", method="DELETE")
