"""MiniDLRM's forward pass in torch, on a CUDA GPU or the CPU (imported only when torch is).

The same model as `model.NumpyDLRM`, from the same `Weights`, so that both give the
same scores for the same seed and features (up to float32 rounding).
"""

from __future__ import annotations

import numpy as np
import torch

from recsys_app.model import Weights, check_features


class TorchDLRM:
    """MiniDLRM on `device` ("cuda" or "cpu")."""

    backend = "torch"

    def __init__(self, weights: Weights, device: str):
        self.shape = weights.shape
        self.device = device
        self._torch_device = torch.device(device)

        def tensor(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(array).to(self._torch_device)

        # One table, table t from row t * cardinality on, as in NumpyDLRM.
        self._rows = tensor(weights.embeddings).view(-1, self.shape.embed_dim)
        self._offsets = tensor(
            np.arange(self.shape.num_sparse) * self.shape.cardinality
        )
        self._bottom = [(tensor(w), tensor(b)) for w, b in weights.bottom]
        self._top = [(tensor(w), tensor(b)) for w, b in weights.top]
        rows, cols = np.triu_indices(1 + self.shape.num_sparse, 1)
        self._upper = (tensor(rows), tensor(cols))

    @torch.inference_mode()
    def __call__(self, dense: np.ndarray, sparse: np.ndarray) -> np.ndarray:
        """Scores (n,) float32 in [0, 1], as `NumpyDLRM.__call__`."""
        check_features(self.shape, dense, sparse)
        x = torch.tensor(dense, dtype=torch.float32, device=self._torch_device)
        ids = torch.tensor(sparse, dtype=torch.int64, device=self._torch_device)
        for weight, bias in self._bottom:
            x = torch.relu(x @ weight + bias)
        embedded = self._rows[ids + self._offsets]
        vectors = torch.cat([x[:, None, :], embedded], dim=1)
        gram = torch.bmm(vectors, vectors.transpose(1, 2))
        x = torch.cat([x, gram[:, self._upper[0], self._upper[1]]], dim=1)
        for weight, bias in self._top[:-1]:
            x = torch.relu(x @ weight + bias)
        weight, bias = self._top[-1]
        return torch.sigmoid((x @ weight + bias)[:, 0]).cpu().numpy()
