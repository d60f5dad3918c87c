"""The recsys pipeline: `IngressDeployment` (FastAPI) -> `RankerDeployment` (batched MiniDLRM).

`GET /` (with `?user_id=N` or without; the id is ignored) synthesizes one request of
`batch_size` (32) feature rows (`model.random_features`), sends it to the ranker through
a deployment handle, and answers `{"scores": [...]}`: one float in [0, 1] per row.
`GET /info` answers what the ranker runs (backend, device, BLAS threads, parameters, the
time it took to build the model).

The ranker gathers up to `max_batch_size` (100) requests, waiting at most
`batch_wait_timeout_s` (0.05 s) for more, into one forward pass, run in a worker thread so
that the replica keeps taking requests meanwhile. The model is built in the ranker's
`__init__` with the backend `select_backend` picks: torch on a CUDA GPU when torch is
installed and Ray gave the replica a GPU (the deployment config asks for it with
`ray_actor_options.num_gpus`), numpy otherwise. The OpenBLAS under numpy is set to
`blas_threads` threads (`blas.py`).

Serve config: `import_path: recsys_app.app:build` with `args` (`RecsysArgs`), or
`recsys_app.app:app`, the defaults, which takes no args.
"""

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np
import ray
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from recsys_app.blas import set_blas_threads
from recsys_app.model import (
    ModelShape,
    NumpyDLRM,
    check_features,
    init_weights,
    random_features,
)

logger = logging.getLogger("ray.serve")

BACKENDS = ("auto", "numpy", "torch")
MAX_ONGOING_REQUESTS = 1000
# Inclusive bounds of the numeric arguments.
_LIMITS = {
    "cardinality": (1, 10_000_000),
    "seed": (0, 2**63 - 1),
    "batch_size": (1, 100_000),
    "max_batch_size": (1, MAX_ONGOING_REQUESTS),
    "batch_wait_timeout_s": (0.0, 60.0),
    "blas_threads": (1, 256),
}


@dataclass(frozen=True)
class RecsysArgs:
    """The app's arguments (Serve config `args`), with the spec's defaults."""

    cardinality: int = 100_000
    seed: int = 0
    backend: str = "auto"
    batch_size: int = 32
    max_batch_size: int = 100
    batch_wait_timeout_s: float = 0.05
    blas_threads: int = 1

    @classmethod
    def parse(cls, args: Mapping[str, object]) -> "RecsysArgs":
        """Validates Serve's `args`: numbers as numbers or strings (`serve run ...
        cardinality=1000` passes strings). Raises ValueError for an unknown name, a
        malformed or out-of-range value or an unknown backend, TypeError for a value
        that is neither a number nor a string (true, null, a list)."""
        unknown = set(args) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown recsys args: {', '.join(sorted(unknown))}")
        values: dict = {}
        for name, value in args.items():
            if name == "backend":
                if value not in BACKENDS:
                    raise ValueError(
                        f"backend must be one of {BACKENDS}, got {value!r}"
                    )
                values[name] = value
            else:
                kind = float if name == "batch_wait_timeout_s" else int
                values[name] = _number(name, value, kind, *_LIMITS[name])
        return cls(**values)


def _number(name: str, value: object, kind: type, low: float, high: float):
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        number = kind(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{name} must be {kind.__name__}, got {value!r}") from None
    if kind is int and isinstance(value, float) and number != value:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= number <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value!r}")
    return number


def gpu_allowed() -> bool:
    """Whether this process may use a GPU: in a Ray worker only when Ray assigned it one
    (`ray_actor_options.num_gpus`), since Ray leaves CUDA_VISIBLE_DEVICES alone in a
    worker without GPUs, which then sees every GPU of the node; outside Ray, yes."""
    if not ray.is_initialized():  # asking the runtime context would start Ray
        return True
    return bool(ray.get_runtime_context().get_accelerator_ids().get("GPU"))


def select_backend(requested: str) -> tuple[str, str]:
    """The (backend, device) to build: "numpy" on the CPU; "torch" on "cuda" when a GPU
    is allowed (`gpu_allowed`) and visible, else on the CPU (an error when torch is
    not installed); "auto" is torch on "cuda" when both are there, numpy otherwise."""
    if requested == "numpy":
        return "numpy", "cpu"
    try:
        import torch
    except ImportError:
        if requested == "torch":
            raise RuntimeError("backend 'torch' needs torch, which is not installed")
        return "numpy", "cpu"
    cuda = gpu_allowed() and torch.cuda.is_available()
    if requested == "auto" and not cuda:
        return "numpy", "cpu"
    return "torch", "cuda" if cuda else "cpu"


def make_model(args: RecsysArgs):
    """MiniDLRM with the spec's shape at `args.cardinality`, weights from `args.seed`,
    on the backend `select_backend(args.backend)` picks."""
    backend, device = select_backend(args.backend)
    weights = init_weights(ModelShape(cardinality=args.cardinality), args.seed)
    if backend == "numpy":
        return NumpyDLRM(weights)
    import torch

    from recsys_app.torch_model import TorchDLRM

    torch.set_num_threads(args.blas_threads)
    return TorchDLRM(weights, device)


@serve.deployment(max_ongoing_requests=MAX_ONGOING_REQUESTS)
class RankerDeployment:
    """Scores feature rows with MiniDLRM, many requests per forward pass."""

    def __init__(self, args: RecsysArgs):
        started = time.perf_counter()
        blas_threads = set_blas_threads(args.blas_threads)
        self._model = make_model(args)
        self._score_batch.set_max_batch_size(args.max_batch_size)
        self._score_batch.set_batch_wait_timeout_s(args.batch_wait_timeout_s)
        self._info = {
            "backend": self._model.backend,
            "device": self._model.device,
            "blas_threads": blas_threads,
            "params": self._model.shape.num_params(),
            "build_s": round(time.perf_counter() - started, 3),
            "args": asdict(args),
        }
        logger.info("RankerDeployment ready: %s", self._info)

    async def __call__(self, dense: np.ndarray, sparse: np.ndarray) -> np.ndarray:
        """Scores (n,) for one request of n rows; a malformed one fails alone."""
        check_features(self._model.shape, dense, sparse)
        return await self._score_batch(dense, sparse)

    def info(self) -> dict:
        """What this replica runs, and how long building the model took."""
        return self._info

    @serve.batch(
        max_batch_size=RecsysArgs.max_batch_size,
        batch_wait_timeout_s=RecsysArgs.batch_wait_timeout_s,
    )
    async def _score_batch(
        self, dense: list[np.ndarray], sparse: list[np.ndarray]
    ) -> list[np.ndarray]:
        return await asyncio.to_thread(self.score_requests, dense, sparse)

    def score_requests(
        self, dense: list[np.ndarray], sparse: list[np.ndarray]
    ) -> list[np.ndarray]:
        """Scores several requests in one forward pass; one array per request."""
        scores = self._model(np.concatenate(dense), np.concatenate(sparse))
        return np.split(scores, np.cumsum([len(d) for d in dense])[:-1])


fastapi_app = FastAPI()


@serve.deployment(max_ongoing_requests=MAX_ONGOING_REQUESTS)
@serve.ingress(fastapi_app)
class IngressDeployment:
    """HTTP ingress: synthesizes a request's feature rows and has the ranker score them."""

    def __init__(self, ranker: DeploymentHandle, args: RecsysArgs):
        self._ranker = ranker
        self._shape = ModelShape(cardinality=args.cardinality)
        self._rows = args.batch_size
        self._rng = np.random.default_rng()

    @fastapi_app.get("/")
    async def recommend(self, user_id: int | None = None) -> JSONResponse:
        dense, sparse = random_features(self._rng, self._shape, self._rows)
        scores = await self._ranker.remote(dense, sparse)
        return JSONResponse({"scores": scores.tolist()})

    @fastapi_app.get("/info")
    async def info(self) -> dict:
        return await self._ranker.info.remote()


def build(args: dict) -> Application:
    """Serve's application builder: `import_path: recsys_app.app:build`, `args` as
    `RecsysArgs` (any left out take their defaults)."""
    parsed = RecsysArgs.parse(args)
    return IngressDeployment.bind(RankerDeployment.bind(parsed), parsed)


app = build({})
