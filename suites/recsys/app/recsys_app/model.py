"""MiniDLRM, the recsys suite's ranking model: shapes, seeded weights, numpy forward pass.

The model (inference only, float32 throughout) scores rows of `num_dense` dense and
`num_sparse` sparse features:

1. bottom MLP over the dense features: 13 -> 256 -> 64, ReLU after every layer;
2. one embedding table per sparse feature (`cardinality` rows of `embed_dim`);
3. dot interaction over the 27 vectors [bottom output, 26 embeddings]: their 27 x 27
   Gram matrix, of which the 351 entries strictly above the diagonal are kept, in
   row-major order of (i, j) with i < j (`np.triu_indices(27, 1)`);
4. top MLP over [bottom output (64), interactions (351)]: 415 -> 256 -> 128 -> 64 with
   ReLU, then 64 -> 1 and a sigmoid: one score in [0, 1] per row.

With the spec's defaults (cardinality 100,000) it has 166,567,745 parameters (666 MB),
all but 167,745 of them in the embedding tables.

Weights (`init_weights`) come from `np.random.default_rng(seed)`, drawn in this order:

1. the embedding tables, one call:
   `rng.standard_normal((num_sparse, cardinality, embed_dim), dtype=np.float32)`;
2. then every linear layer, bottom MLP first, then top MLP (its last layer is the
   64 -> 1 one), each as the weight matrix then the bias, drawn like torch's default
   `nn.Linear` initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)):
   `rng.uniform(-bound, bound, size=(fan_in, fan_out)).astype(np.float32)`, then
   `rng.uniform(-bound, bound, size=fan_out).astype(np.float32)`, where
   `bound = 1 / math.sqrt(fan_in)`. A layer computes `x @ weight + bias`: the weight
   matrix is stored (fan_in, fan_out), the transpose of torch's layout.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ModelShape:
    """MiniDLRM's dimensions; the defaults are the spec's."""

    cardinality: int = 100_000
    num_dense: int = 13
    num_sparse: int = 26
    embed_dim: int = 64
    bottom_mlp: tuple[int, ...] = (256, 64)
    top_mlp: tuple[int, ...] = (256, 128, 64)

    def __post_init__(self):
        for name in ("cardinality", "num_dense", "num_sparse", "embed_dim"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"{name} must be at least 1, got {getattr(self, name)}"
                )
        if not self.bottom_mlp or self.bottom_mlp[-1] != self.embed_dim:
            raise ValueError(
                f"bottom_mlp must end with embed_dim ({self.embed_dim}), "
                f"got {self.bottom_mlp}"
            )
        if min(self.bottom_mlp + self.top_mlp, default=1) < 1:
            raise ValueError("every MLP layer needs at least 1 unit")

    @property
    def num_interactions(self) -> int:
        """Gram-matrix entries above the diagonal: pairs of the 1 + num_sparse vectors."""
        vectors = 1 + self.num_sparse
        return vectors * (vectors - 1) // 2

    def bottom_layers(self) -> list[tuple[int, int]]:
        """(fan_in, fan_out) of each bottom-MLP layer."""
        sizes = (self.num_dense, *self.bottom_mlp)
        return list(itertools.pairwise(sizes))

    def top_layers(self) -> list[tuple[int, int]]:
        """(fan_in, fan_out) of each top-MLP layer, the final one to 1 included."""
        sizes = (self.embed_dim + self.num_interactions, *self.top_mlp, 1)
        return list(itertools.pairwise(sizes))

    def num_params(self) -> int:
        """Parameters in all: embedding tables, weights and biases."""
        layers = self.bottom_layers() + self.top_layers()
        return self.num_sparse * self.cardinality * self.embed_dim + sum(
            fan_in * fan_out + fan_out for fan_in, fan_out in layers
        )


Layer = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Weights:
    """MiniDLRM's parameters, float32: `embeddings` is (num_sparse, cardinality,
    embed_dim); each layer is (weight (fan_in, fan_out), bias (fan_out,))."""

    shape: ModelShape
    embeddings: np.ndarray
    bottom: list[Layer]
    top: list[Layer]


def init_weights(shape: ModelShape, seed: int) -> Weights:
    """Draws the weights for `seed` in the order of the module docstring."""
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal(
        (shape.num_sparse, shape.cardinality, shape.embed_dim), dtype=np.float32
    )

    def linear(fan_in: int, fan_out: int) -> Layer:
        bound = 1 / math.sqrt(fan_in)
        weight = rng.uniform(-bound, bound, size=(fan_in, fan_out))
        bias = rng.uniform(-bound, bound, size=fan_out)
        return weight.astype(np.float32), bias.astype(np.float32)

    bottom = [linear(*layer) for layer in shape.bottom_layers()]
    top = [linear(*layer) for layer in shape.top_layers()]
    return Weights(shape, embeddings, bottom, top)


def check_features(shape: ModelShape, dense: np.ndarray, sparse: np.ndarray) -> None:
    """Raises ValueError unless `dense` (n, num_dense) and `sparse` (n, num_sparse)
    fit the model, with every sparse id an integer in [0, cardinality)."""
    if not np.issubdtype(sparse.dtype, np.integer):
        raise ValueError(f"sparse ids must be integers, got {sparse.dtype}")
    rows = dense.shape[0] if dense.ndim == 2 else -1
    expected = ((rows, shape.num_dense), (rows, shape.num_sparse))
    if (dense.shape, sparse.shape) != expected:
        raise ValueError(
            f"expected dense (n, {shape.num_dense}) and sparse (n, {shape.num_sparse}), "
            f"got {dense.shape} and {sparse.shape}"
        )
    if sparse.size and (sparse.min() < 0 or sparse.max() >= shape.cardinality):
        raise ValueError(f"sparse ids must be in [0, {shape.cardinality})")


class NumpyDLRM:
    """MiniDLRM's forward pass in numpy."""

    backend = "numpy"
    device = "cpu"

    def __init__(self, weights: Weights):
        self.shape = weights.shape
        # The tables as one (num_sparse * cardinality, embed_dim) table, where table t
        # starts at row t * cardinality: one np.take gathers all (several times
        # faster than indexing the 3-d array with two index arrays).
        self._rows = weights.embeddings.reshape(-1, self.shape.embed_dim)
        self._offsets = np.arange(self.shape.num_sparse) * self.shape.cardinality
        self._bottom = weights.bottom
        self._top = weights.top
        self._upper = np.triu_indices(1 + self.shape.num_sparse, 1)

    def __call__(self, dense: np.ndarray, sparse: np.ndarray) -> np.ndarray:
        """Scores (n,) float32 in [0, 1] for dense (n, num_dense) float32 and
        sparse (n, num_sparse) integer features."""
        check_features(self.shape, dense, sparse)
        x = np.asarray(dense, dtype=np.float32)
        for weight, bias in self._bottom:
            x = np.maximum(x @ weight + bias, 0)
        embedded = np.take(self._rows, sparse + self._offsets, axis=0)
        vectors = np.concatenate([x[:, None, :], embedded], axis=1)
        gram = vectors @ vectors.transpose(0, 2, 1)
        x = np.concatenate([x, gram[:, self._upper[0], self._upper[1]]], axis=1)
        for weight, bias in self._top[:-1]:
            x = np.maximum(x @ weight + bias, 0)
        weight, bias = self._top[-1]
        logits = (x @ weight + bias)[:, 0]
        # The sigmoid as 0.5 * (1 + tanh(x / 2)): equal, and no overflow in exp.
        return 0.5 + 0.5 * np.tanh(0.5 * logits)


def random_features(
    rng: np.random.Generator, shape: ModelShape, rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """`rows` random feature rows: dense (rows, num_dense) float32 uniform in [0, 1),
    sparse (rows, num_sparse) int64 uniform in [0, cardinality)."""
    dense = rng.random((rows, shape.num_dense), dtype=np.float32)
    sparse = rng.integers(0, shape.cardinality, size=(rows, shape.num_sparse))
    return dense, sparse
