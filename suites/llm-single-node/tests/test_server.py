"""The standalone server (`python -m llm_sim.server`) as a subprocess on a free port."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import APP_DIR

MODEL = "sim/model"


@pytest.fixture(scope="module")
def server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["--port", str(port), "--model", MODEL, "--time-factor", "0.5"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "llm_sim.server", *args],
        env={**os.environ, "PYTHONPATH": str(APP_DIR)},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                assert r.status == 200
            break
        except OSError:
            assert proc.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not answer /health"
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def post(url: str, body: dict):
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    return urllib.request.urlopen(request, timeout=30)


def test_streamed_completion(server):
    body = {
        "model": MODEL,
        "prompt": list(range(512)),
        "max_tokens": 8,
        "stream": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": True},
    }
    with post(server + "/v1/completions", body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.read().decode().split("\n\n") if line]
    assert events[-1] == "data: [DONE]"
    final = json.loads(events[-2][6:])
    assert final["usage"] == {
        "prompt_tokens": 512,
        "completion_tokens": 8,
        "total_tokens": 520,
    }


def test_chat_completion_not_streamed(server):
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 3,
    }
    with post(server + "/v1/chat/completions", body) as r:
        answer = json.loads(r.read())
    assert answer["choices"][0]["message"]["content"] == " tok" * 3
    assert answer["usage"]["completion_tokens"] == 3


def test_models_and_info_record_the_time_factor(server):
    with urllib.request.urlopen(server + "/v1/models") as r:
        models = json.loads(r.read())
    assert [m["id"] for m in models["data"]] == [MODEL]
    assert models["data"][0]["metadata"]["engine"]["time_factor"] == 0.5
    with urllib.request.urlopen(server + "/sim/info") as r:
        info = json.loads(r.read())
    assert info["engine"]["max_num_seqs"] == 256 and info["stats"]["steps"] > 0


def test_errors(server):
    cases = [
        ({"model": "other", "prompt": "x"}, 404),
        ({"model": MODEL, "prompt": []}, 400),
    ]
    for body, status in cases:
        with pytest.raises(urllib.error.HTTPError) as err:
            post(server + "/v1/completions", body)
        assert err.value.code == status
        assert json.loads(err.value.read())["error"]["code"] == status
