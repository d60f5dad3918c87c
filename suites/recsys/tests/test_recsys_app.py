"""The Serve app without a cluster: its arguments, the bound graph, the backend choice,
the ranker's batching and the ingress driven with a fake deployment handle."""

import asyncio
import json
from dataclasses import asdict

import numpy as np
import pytest
from ray import serve
from recsys_app import app as recsys
from recsys_app.model import ModelShape, NumpyDLRM, init_weights, random_features

SMALL = recsys.RecsysArgs(cardinality=100, seed=7, backend="numpy")


def torch_installed():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def test_args_default_to_the_spec():
    assert recsys.RecsysArgs.parse({}) == recsys.RecsysArgs(
        cardinality=100_000,
        seed=0,
        backend="auto",
        batch_size=32,
        max_batch_size=100,
        batch_wait_timeout_s=0.05,
        blas_threads=1,
    )


def test_args_take_numbers_and_strings():
    parsed = recsys.RecsysArgs.parse(
        {
            "cardinality": "1000",
            "seed": 3,
            "backend": "numpy",
            "batch_size": 8.0,
            "max_batch_size": "50",
            "batch_wait_timeout_s": "0.01",
            "blas_threads": 2,
        }
    )
    assert parsed == recsys.RecsysArgs(1000, 3, "numpy", 8, 50, 0.01, 2)


@pytest.mark.parametrize(
    "args, message",
    [
        ({"cardinalty": 10}, "unknown recsys args: cardinalty"),
        ({"cardinality": 0}, r"cardinality must be in \[1, "),
        ({"cardinality": "lots"}, "cardinality must be int"),
        ({"cardinality": 1.5}, "cardinality must be an integer"),
        ({"cardinality": True}, "cardinality must be a number"),
        ({"cardinality": [1]}, "cardinality must be a number"),
        ({"seed": -1}, "seed must be in"),
        ({"seed": float("inf")}, "seed must be int"),
        ({"backend": "jax"}, "backend must be one of"),
        ({"batch_size": None}, "batch_size must be a number"),
        ({"max_batch_size": 1001}, "max_batch_size must be in"),
        ({"batch_wait_timeout_s": -0.1}, "batch_wait_timeout_s must be in"),
        ({"batch_wait_timeout_s": "nan"}, "batch_wait_timeout_s must be in"),
        ({"blas_threads": 0}, "blas_threads must be in"),
    ],
)
def test_bad_args_are_rejected_clearly(args, message):
    with pytest.raises((ValueError, TypeError), match=message):
        recsys.build(args)


def test_the_app_is_bound_with_the_benchmark_limits():
    assert isinstance(recsys.app, serve.Application)
    assert isinstance(recsys.build({"cardinality": 10}), serve.Application)
    for deployment, name in [
        (recsys.IngressDeployment, "IngressDeployment"),
        (recsys.RankerDeployment, "RankerDeployment"),
    ]:
        assert deployment.name == name
        assert deployment.max_ongoing_requests == 1000


def test_backend_numpy_is_always_there():
    assert recsys.select_backend("numpy") == ("numpy", "cpu")


def test_outside_ray_a_gpu_is_allowed_without_starting_ray():
    import ray

    assert recsys.gpu_allowed() is True
    assert not ray.is_initialized()


@pytest.mark.skipif(torch_installed(), reason="torch is installed")
def test_without_torch_auto_is_numpy_and_torch_is_an_error():
    assert recsys.select_backend("auto") == ("numpy", "cpu")
    with pytest.raises(RuntimeError, match="not installed"):
        recsys.select_backend("torch")


@pytest.mark.skipif(not torch_installed(), reason="torch is not installed")
def test_with_torch_auto_is_torch_only_on_a_gpu():
    import torch

    cuda = torch.cuda.is_available()
    assert recsys.select_backend("auto") == (
        ("torch", "cuda") if cuda else ("numpy", "cpu")
    )
    assert recsys.select_backend("torch") == ("torch", "cuda" if cuda else "cpu")


def make_ranker(args=SMALL):
    return recsys.RankerDeployment.func_or_class(args)


def test_ranker_builds_the_seeded_model_with_one_blas_thread():
    ranker = make_ranker()
    info = ranker.info()
    assert info["backend"] == "numpy" and info["device"] == "cpu"
    assert info["blas_threads"] == 1
    assert info["params"] == ModelShape(cardinality=100).num_params()
    assert info["args"] == asdict(SMALL)
    assert info["build_s"] >= 0
    json.dumps(info)


def requests_of(shape, count, rows=32):
    rng = np.random.default_rng(11)
    return [random_features(rng, shape, rows) for _ in range(count)]


def test_a_batch_gives_each_request_its_own_scores():
    ranker = make_ranker()
    model = NumpyDLRM(init_weights(ModelShape(cardinality=100), seed=7))
    requests = requests_of(model.shape, 5) + requests_of(model.shape, 1, rows=3)
    dense, sparse = zip(*requests)
    # What @serve.batch calls with the arguments of the requests it gathered. (Its
    # queue is left to the end-to-end test: it lives in the class, and a class whose
    # queue has started can no longer be pickled for Serve.)
    batch = ranker._score_batch.__wrapped__(ranker, list(dense), list(sparse))
    scores = asyncio.run(batch)
    assert [len(s) for s in scores] == [32] * 5 + [3]
    for (d, s), got in zip(requests, scores):
        np.testing.assert_allclose(got, model(d, s), rtol=1e-6, atol=1e-7)


def test_ranker_rejects_a_malformed_request_alone():
    ranker = make_ranker()
    with pytest.raises(ValueError, match=r"\[0, 100\)"):
        asyncio.run(ranker(np.zeros((2, 13), np.float32), np.full((2, 26), 100)))


class FakeResponse:
    """What `DeploymentHandle.remote()` returns for a unary call: an awaitable."""

    def __init__(self, value):
        self._value = value

    def __await__(self):
        async def get():
            return self._value

        return get().__await__()


class FakeRankerHandle:
    """Scores with a small model, and keeps what it was sent."""

    def __init__(self):
        self.model = NumpyDLRM(init_weights(ModelShape(cardinality=100), seed=0))
        self.sent = []

    def remote(self, dense, sparse):
        self.sent.append((dense, sparse))
        return FakeResponse(self.model(dense, sparse))


def test_ingress_sends_32_synthetic_rows_and_answers_their_scores():
    handle = FakeRankerHandle()
    # @serve.ingress subclasses the class (first base) into one that also starts the
    # ASGI app, with an async __init__; the class itself is enough here.
    ingress_class = recsys.IngressDeployment.func_or_class.__bases__[0]
    ingress = ingress_class(handle, SMALL)
    for user_id in (42, None):
        response = asyncio.run(ingress.recommend(user_id=user_id))
        assert response.status_code == 200
        scores = json.loads(response.body)["scores"]
        assert len(scores) == 32
        assert all(isinstance(s, float) and 0 <= s <= 1 for s in scores)
    dense, sparse = handle.sent[-1]
    assert dense.shape == (32, 13) and dense.dtype == np.float32
    assert sparse.shape == (32, 26) and sparse.dtype == np.int64
    assert 0 <= sparse.min() and sparse.max() < 100
    assert not np.array_equal(handle.sent[0][1], handle.sent[1][1])
