"""MiniDLRM without Ray: the numpy forward pass against a hand computation, the seeded
weights and their documented draw order, the torch pass against numpy, the BLAS threads."""

import math
import os

import numpy as np
import pytest
from recsys_app.blas import blas_threads, set_blas_threads
from recsys_app.model import (
    ModelShape,
    NumpyDLRM,
    check_features,
    init_weights,
    random_features,
)

TINY = ModelShape(
    cardinality=5,
    num_dense=3,
    num_sparse=4,
    embed_dim=2,
    bottom_mlp=(4, 2),
    top_mlp=(3,),
)


def hand_scores(weights, dense, sparse):
    """MiniDLRM in plain Python loops over the weights as lists."""
    embeddings = weights.embeddings.tolist()
    bottom = [(w.tolist(), b.tolist()) for w, b in weights.bottom]
    top = [(w.tolist(), b.tolist()) for w, b in weights.top]

    def linear(x, weight, bias):
        return [
            sum(x[i] * weight[i][j] for i in range(len(x))) + bias[j]
            for j in range(len(bias))
        ]

    def relu(x):
        return [max(v, 0.0) for v in x]

    scores = []
    for dense_row, sparse_row in zip(dense.tolist(), sparse.tolist()):
        x = dense_row
        for weight, bias in bottom:
            x = relu(linear(x, weight, bias))
        vectors = [x] + [embeddings[t][sparse_row[t]] for t in range(len(sparse_row))]
        pairs = [
            sum(a * b for a, b in zip(vectors[i], vectors[j]))
            for i in range(len(vectors))
            for j in range(i + 1, len(vectors))
        ]
        x = x + pairs
        for weight, bias in top[:-1]:
            x = relu(linear(x, weight, bias))
        (logit,) = linear(x, *top[-1])
        scores.append(1 / (1 + math.exp(-logit)))
    return scores


def test_numpy_model_matches_a_hand_computation():
    weights = init_weights(TINY, seed=3)
    dense, sparse = random_features(np.random.default_rng(1), TINY, rows=7)
    scores = NumpyDLRM(weights)(dense, sparse)
    assert scores.dtype == np.float32
    assert scores.shape == (7,)
    np.testing.assert_allclose(scores, hand_scores(weights, dense, sparse), atol=1e-6)


def test_weights_follow_the_documented_draw_order():
    weights = init_weights(TINY, seed=5)
    rng = np.random.default_rng(5)
    expected = [rng.standard_normal((4, 5, 2), dtype=np.float32)]
    for fan_in, fan_out in [(3, 4), (4, 2), (2 + 10, 3), (3, 1)]:
        bound = 1 / math.sqrt(fan_in)
        expected.append(
            rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32)
        )
        expected.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    actual = [weights.embeddings]
    for weight, bias in weights.bottom + weights.top:
        actual += [weight, bias]
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


def test_same_seed_same_weights_other_seed_other_weights():
    shape = ModelShape(cardinality=50)
    dense, sparse = random_features(np.random.default_rng(0), shape, rows=64)
    first = NumpyDLRM(init_weights(shape, seed=0))(dense, sparse)
    again = NumpyDLRM(init_weights(shape, seed=0))(dense, sparse)
    other = NumpyDLRM(init_weights(shape, seed=1))(dense, sparse)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    a, b = init_weights(shape, seed=0), init_weights(shape, seed=1)
    assert not np.array_equal(a.embeddings, b.embeddings)
    assert not np.array_equal(a.top[0][0], b.top[0][0])


def test_scores_are_n_probabilities_that_vary():
    shape = ModelShape(cardinality=1000)
    dense, sparse = random_features(np.random.default_rng(2), shape, rows=3200)
    scores = NumpyDLRM(init_weights(shape, seed=0))(dense, sparse)
    assert scores.shape == (3200,)
    assert scores.dtype == np.float32
    assert np.all((scores >= 0) & (scores <= 1))
    assert scores.std() > 0.01


def test_spec_shape_has_166m_parameters():
    shape = ModelShape()
    assert shape.num_interactions == 351
    assert shape.top_layers()[0] == (64 + 351, 256)
    assert shape.top_layers()[-1] == (64, 1)
    assert shape.num_params() == 26 * 100_000 * 64 + 167_745 == 166_567_745


def test_random_features_fit_the_model():
    shape = ModelShape(cardinality=10)
    dense, sparse = random_features(np.random.default_rng(0), shape, rows=32)
    assert dense.shape == (32, 13) and dense.dtype == np.float32
    assert sparse.shape == (32, 26) and sparse.dtype == np.int64
    assert sparse.min() >= 0 and sparse.max() < 10
    check_features(shape, dense, sparse)


@pytest.mark.parametrize(
    "dense, sparse, message",
    [
        (np.zeros((2, 13)), np.zeros((3, 26), np.int64), "expected dense"),
        (np.zeros((2, 12)), np.zeros((2, 26), np.int64), "expected dense"),
        (np.zeros(13), np.zeros(26, np.int64), "expected dense"),
        (np.zeros((2, 13)), np.zeros((2, 26)), "integers"),
        (np.zeros((2, 13)), np.full((2, 26), 10), r"\[0, 10\)"),
        (np.zeros((2, 13)), np.full((2, 26), -1), r"\[0, 10\)"),
    ],
)
def test_malformed_features_are_rejected(dense, sparse, message):
    with pytest.raises(ValueError, match=message):
        check_features(ModelShape(cardinality=10), dense, sparse)


@pytest.mark.parametrize(
    "changes",
    [
        {"cardinality": 0},
        {"embed_dim": 0},
        {"bottom_mlp": (256, 32)},
        {"top_mlp": (0,)},
    ],
)
def test_bad_shapes_are_rejected(changes):
    with pytest.raises(ValueError):
        ModelShape(**changes)


def test_torch_model_gives_the_numpy_scores():
    torch = pytest.importorskip("torch")
    from recsys_app.torch_model import TorchDLRM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    shape = ModelShape(cardinality=1000)
    weights = init_weights(shape, seed=0)
    dense, sparse = random_features(np.random.default_rng(4), shape, rows=3200)
    scores = TorchDLRM(weights, device)(dense, sparse)
    assert scores.dtype == np.float32
    np.testing.assert_allclose(scores, NumpyDLRM(weights)(dense, sparse), atol=1e-4)


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="Linux only")
def test_blas_thread_count_takes_effect():
    before = blas_threads()
    assert before is not None, "numpy's OpenBLAS was not found"
    try:
        assert set_blas_threads(1) == 1
        threads = len(os.listdir("/proc/self/task"))
        more = min(threads + 4, 64)
        assert set_blas_threads(more) == more
        # OpenBLAS starts its worker threads when asked for more than it has.
        assert len(os.listdir("/proc/self/task")) > threads
    finally:
        set_blas_threads(before)
