"""Ray Serve LLM application builder: `build_openai_app` with N LLM replicas.

Serve config: `import_path: llm_sim.serve_app:build`, `args: {...}` (`BuildArgs`).
The application is Ray's own: the `OpenAiIngress` deployment (FastAPI,
`/v1/completions`, `/v1/chat/completions`, `/v1/models`) calling the
`LLMServer:<model id, / as -->` deployment through a streaming handle. With
`engine = "sim"` (the default) each LLMServer replica runs the simulated engine
(`ray_engine.SimLLMEngine`, on CPU); with `engine = "vllm"` it runs real vLLM
with the benchmark's settings (`engine.toml` `[vllm]`) on a GPU.

Both deployments get autoscaling min = max = the replica count and
`max_ongoing_requests`; the ingress has `ingress_replicas` replicas (4 x N in the
original benchmark).
"""

import dataclasses
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator
from ray.serve.deployment import Application
from ray.serve.llm import LLMConfig, build_openai_app

from llm_sim import settings
from llm_sim.ray_engine import ENGINE_CLS, VLLM_KEYS


class BuildArgs(BaseModel):
    """The builder's arguments (Serve config `args`)."""

    model_config = ConfigDict(extra="forbid")

    model_id: str = Field(default_factory=settings.vllm_model)
    engine: Literal["sim", "vllm"] = "sim"
    num_replicas: PositiveInt = 1
    ingress_replicas: PositiveInt | None = Field(
        default=None, description="default: 4 x num_replicas"
    )
    max_ongoing_requests: PositiveInt = 8192
    stream_batching_interval_ms: float | None = Field(
        default=None,
        ge=0,
        description="LLMServer's stream batching; default Ray's 50 ms",
    )
    accelerator: Literal["cpu", "gpu"] | None = Field(
        default=None, description="default: cpu for sim, gpu for vllm"
    )
    engine_params: dict = Field(
        default_factory=dict, description="sim: overrides of engine.toml [engine]"
    )
    engine_kwargs: dict = Field(
        default_factory=dict, description="vllm: overrides of engine.toml [vllm]"
    )

    @model_validator(mode="after")
    def _overrides_match_the_engine(self):
        other = "engine_kwargs" if self.engine == "sim" else "engine_params"
        if getattr(self, other):
            raise ValueError(f"{other} does not apply to engine {self.engine!r}")
        return self


def _fixed_replicas(count: int, max_ongoing_requests: int) -> dict:
    scaling = {"min_replicas": count, "max_replicas": count, "initial_replicas": count}
    return {"autoscaling_config": scaling, "max_ongoing_requests": max_ongoing_requests}


def llm_config(args: BuildArgs) -> LLMConfig:
    """The LLMConfig of the LLM deployment."""
    experimental = {}
    if args.stream_batching_interval_ms is not None:
        experimental["stream_batching_interval_ms"] = args.stream_batching_interval_ms
    config = {
        "model_loading_config": {"model_id": args.model_id},
        "deployment_config": _fixed_replicas(
            args.num_replicas, args.max_ongoing_requests
        ),
        "experimental_configs": experimental,
    }
    accelerator = args.accelerator or ("cpu" if args.engine == "sim" else "gpu")
    if accelerator == "cpu":
        config["accelerator_config"] = {"kind": "cpu"}
    if args.engine == "sim":
        params = settings.engine_params(args.engine_params)
        sim = {
            k: v for k, v in dataclasses.asdict(params).items() if k not in VLLM_KEYS
        }
        config["engine_kwargs"] = {k: getattr(params, k) for k in VLLM_KEYS}
        experimental["llm_sim"] = sim
        config["runtime_env"] = {"env_vars": {"RAYLLM_VLLM_ENGINE_CLS": ENGINE_CLS}}
    else:
        config["model_loading_config"]["model_source"] = settings.vllm_model()
        config["engine_kwargs"] = settings.vllm_engine_kwargs(args.engine_kwargs)
    return LLMConfig(**config)


def build(args: dict) -> Application:
    """Serve app builder: validates `args` (BuildArgs) and builds the app."""
    parsed = BuildArgs.model_validate(args)
    ingress_replicas = parsed.ingress_replicas or 4 * parsed.num_replicas
    return build_openai_app(
        {
            "llm_configs": [llm_config(parsed)],
            "ingress_deployment_config": _fixed_replicas(
                ingress_replicas, parsed.max_ongoing_requests
            ),
        }
    )
