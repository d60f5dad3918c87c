"""The checked-in settings (`engine.toml` beside this file) and what is built from them.

`[engine]` holds the simulated engine's calibrated parameters, `[vllm]` the real
engine's settings (the benchmark's gpt-oss-20b on one GPU). From the same data:
`engine_params` for the simulation, `vllm_engine_kwargs` for Ray Serve LLM's
`engine_kwargs`, and `vllm_serve_command` for the bare-engine baseline
(`vllm serve` without Ray) on a GPU machine.
"""

import dataclasses
import tomllib
from collections.abc import Mapping
from pathlib import Path

from llm_sim.scheduler import EngineParams

SETTINGS_FILE = Path(__file__).with_name("engine.toml")


def load() -> dict:
    with SETTINGS_FILE.open("rb") as f:
        return tomllib.load(f)


def engine_params(overrides: Mapping | None = None) -> EngineParams:
    """The calibrated EngineParams, with some fields replaced."""
    unknown = set(overrides or {}) - {f.name for f in dataclasses.fields(EngineParams)}
    if unknown:
        raise ValueError(f"unknown engine parameters: {sorted(unknown)}")
    return EngineParams(**{**load()["engine"], **(overrides or {})})


def vllm_engine_kwargs(overrides: Mapping | None = None) -> dict:
    """vLLM engine arguments (without the model), as LLMConfig.engine_kwargs."""
    table = {k: v for k, v in load()["vllm"].items() if k != "model"}
    return {**table, **(overrides or {})}


def vllm_model() -> str:
    return load()["vllm"]["model"]


def vllm_serve_command(
    *,
    model: str | None = None,
    host: str = "0.0.0.0",
    port: int = 8000,
    engine_kwargs: Mapping | None = None,
) -> list[str]:
    """`vllm serve MODEL --flag value ...` for the bare-engine baseline."""
    args = ["vllm", "serve", model or vllm_model(), "--host", host, "--port", str(port)]
    for key, value in (engine_kwargs or vllm_engine_kwargs()).items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is False:
            args.append("--no-" + flag[2:])
        else:
            args += [flag, str(value)]
    return args
