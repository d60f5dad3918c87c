"""The Serve app's LLMConfig, simulated and real vLLM, validated as Ray Serve LLM
and vLLM would (no cluster, no GPU needed); the `vllm serve` command line, whose
flags must be vLLM engine arguments (vLLM's own CLI parser needs a GPU platform)."""

import pytest
from llm_sim import settings
from llm_sim.ray_engine import ENGINE_CLS, params_from_llm_config
from llm_sim.serve_app import BuildArgs, llm_config
from pydantic import ValidationError

SPEC = {
    "tensor_parallel_size": 1,
    "max_model_len": 4096,
    "gpu_memory_utilization": 0.95,
    "max_num_seqs": 256,
    "max_num_batched_tokens": 16384,
    "enable_prefix_caching": False,
}


def test_simulated_engine_config():
    args = BuildArgs(
        num_replicas=4,
        stream_batching_interval_ms=20,
        engine_params={"time_factor": 4.0, "jitter": 0.1},
    )
    config = llm_config(args)
    assert config.model_id == "openai/gpt-oss-20b"
    assert config.deployment_config == {
        "autoscaling_config": {
            "min_replicas": 4,
            "max_replicas": 4,
            "initial_replicas": 4,
        },
        "max_ongoing_requests": 8192,
    }
    assert config.experimental_configs["stream_batching_interval_ms"] == 20
    assert config.runtime_env == {"env_vars": {"RAYLLM_VLLM_ENGINE_CLS": ENGINE_CLS}}
    assert config.accelerator_config.kind == "cpu"
    engine = (
        config.get_engine_config()
    )  # engine_kwargs checked against vLLM's arguments
    assert engine.placement_bundles == [{"CPU": 1}]
    params = params_from_llm_config(config)
    assert params == settings.engine_params({"time_factor": 4.0, "jitter": 0.1})


def test_real_vllm_config_validates():
    config = llm_config(BuildArgs(engine="vllm", num_replicas=2))
    assert config.engine_kwargs == SPEC
    assert config.accelerator_config.kind == "gpu"
    assert config.experimental_configs == {}
    engine = config.get_engine_config()
    assert engine.hf_model_id == "openai/gpt-oss-20b"
    assert engine.engine_kwargs == SPEC
    assert engine.placement_bundles == [{"GPU": 1}]
    from vllm.engine.arg_utils import AsyncEngineArgs

    AsyncEngineArgs(model=engine.hf_model_id, **engine.engine_kwargs)


def test_bad_args_are_refused():
    mixed = {"engine": "vllm", "engine_params": {"time_factor": 2}}
    for bad in ({"engine": "tgi"}, {"num_replicas": 0}, {"replicas": 2}, mixed):
        with pytest.raises(ValidationError):
            BuildArgs.model_validate(bad)
    with pytest.raises(ValueError):
        llm_config(BuildArgs(engine_params={"warp": 9}))


def test_vllm_serve_command():
    import dataclasses

    from vllm.engine.arg_utils import AsyncEngineArgs

    command = settings.vllm_serve_command(port=8100)
    assert command[:7] == [
        "vllm",
        "serve",
        "openai/gpt-oss-20b",
        "--host",
        "0.0.0.0",
        "--port",
        "8100",
    ]
    flags, parsed = command[7:], {}
    while flags:
        flag = flags.pop(0)
        if flag.startswith("--no-"):
            parsed[flag[5:].replace("-", "_")] = False
        else:
            parsed[flag[2:].replace("-", "_")] = flags.pop(0)
    assert parsed == {k: v if v is False else str(v) for k, v in SPEC.items()}
    assert set(parsed) <= {f.name for f in dataclasses.fields(AsyncEngineArgs)}
