"""The calibrated engine (engine.toml) against the original's bare vLLM figures, in
virtual time; the real-time engine against the virtual-time simulation."""

import asyncio
import dataclasses
import json
import statistics
from pathlib import Path

import pytest
from llm_sim import settings
from llm_sim.calibrate import (
    DRAWS,
    METRICS,
    Workload,
    cold_start_ms,
    errors,
    simulate,
    simulate_row,
    targets,
)
from llm_sim.engine import EngineCore
from llm_sim.scheduler import EngineParams

FIXTURE = (
    Path(__file__).resolve().parents[4]
    / "shared/reference/published/llm/results_vllm/sweep_summary.json"
)
TOLERANCE = settings.load()["calibration"]["tolerance"]


@pytest.mark.parametrize("concurrency", [16, 32, 64, 128, 256])
def test_simulated_engine_reproduces_the_original(concurrency):
    params = settings.engine_params()
    assert (params.max_num_seqs, params.max_num_batched_tokens) == (256, 16384)
    target = targets()[concurrency]
    errs = errors(simulate_row(params, concurrency), target)
    assert all(abs(e) <= TOLERANCE for e in errs.values()), errs


def test_the_tolerance_is_the_target_and_only_the_first_row_is_cold():
    assert TOLERANCE <= 0.20
    params = settings.engine_params()
    assert params.cold_start_ms == 0.0, "served engines start warm unless told"
    first, second = list(targets())[:2]
    assert cold_start_ms() > 0
    cold = simulate_row(params, first)
    warm = simulate(params, Workload(first))
    # One slow first step: the first wave's first tokens wait for it, nothing else does.
    assert cold.mean_ttft_ms > warm.mean_ttft_ms + cold_start_ms() * first / 1024 * 0.9
    assert cold.mean_tpot_ms == pytest.approx(warm.mean_tpot_ms, rel=0.01)
    draws = [simulate(params, Workload(second, seed=s)) for s in range(DRAWS)]
    mean = {m: statistics.fmean(getattr(r, m) for r in draws) for m in METRICS}
    assert dataclasses.asdict(simulate_row(params, second)) == pytest.approx(mean)


def test_a_client_turnaround_is_drawn_and_never_zero():
    # Each request reaches the engine some time after its send, drawn per request: two
    # draws differ, and one with no turnaround at all (the instant of the last token)
    # is not what any client does.
    params = settings.engine_params()
    a, b = (simulate(params, Workload(256, seed=s)) for s in (0, 1))
    assert a != b
    instant = simulate(params, Workload(256, turnaround_ms=0.0))
    assert instant.mean_ttft_ms < min(a.mean_ttft_ms, b.mean_ttft_ms)


@pytest.mark.skipif(
    not FIXTURE.exists(), reason="shared/reference is not beside the checkout"
)
def test_targets_are_the_published_figures():
    rows = {r["concurrency"]: r for r in json.loads(FIXTURE.read_text())}
    for c, target in targets().items():
        for metric in METRICS:
            assert getattr(target, metric) == pytest.approx(rows[c][metric], rel=1e-3)


def test_real_time_engine_matches_the_simulation():
    params = EngineParams(
        max_num_seqs=4,
        max_num_batched_tokens=64,
        base_ms=8.0,
        per_decode_seq_ms=1.0,
        per_prefill_token_ms=0.2,
        intake_ms=2.0,
        emit_ms_per_token=0.5,
        time_factor=2.0,
    )
    w = Workload(concurrency=6, num_prompts=12, input_len=40, output_len=8)

    async def run() -> tuple[list, list, list]:
        core = EngineCore(params)
        core.start()
        loop = asyncio.get_running_loop()
        todo = iter(range(w.num_prompts))
        samples = []

        async def user() -> None:
            for _ in todo:
                sent = loop.time()
                times = [
                    loop.time() async for _ in core.generate(w.input_len, w.output_len)
                ]
                samples.append((sent, times[0], times[-1]))

        await asyncio.gather(*(user() for _ in range(w.concurrency)))
        await core.stop()
        return samples

    samples = asyncio.run(run())
    scale = 1000.0 / params.time_factor
    ttft = statistics.fmean((f - s) * scale for s, f, _ in samples)
    tpot = statistics.fmean((e - f) * scale / (w.output_len - 1) for _, f, e in samples)
    expected = simulate(params, w)
    assert ttft == pytest.approx(expected.mean_ttft_ms, rel=0.15)
    assert tpot == pytest.approx(expected.mean_tpot_ms, rel=0.15)
