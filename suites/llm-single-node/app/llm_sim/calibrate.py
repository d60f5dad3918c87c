"""Calibration of the simulated engine against the original's bare vLLM runs.

The workload is `vllm bench serve`'s: `num_prompts` requests of `input_len` prompt
tokens and exactly `output_len` output tokens, at most `concurrency` in flight,
request rate unlimited (a closed loop: a finished request is replaced at once).
Metrics use vLLM's definitions: TTFT from the request's send to its first token,
TPOT = (E2E latency - TTFT) / (output tokens - 1) per request, output throughput =
all output tokens / (last completion - first send); TTFT and TPOT are means.

- `simulate`: the engine's own `Scheduler` and `Frontend` run in virtual time
  (no clock, no event loop; a discrete-event simulation with the real engine's
  order of events). Fast enough to fit with.
- `measure`: the same workload sent over HTTP to a running server (the
  standalone `llm_sim.server`, or anything OpenAI-compatible), timed with the
  event loop's clock, durations divided by `time_factor`.
- The original ran its five rows in turn on one `vllm serve`, so its first row
  (c=16) met a cold engine: its mean TTFT holds a tail of multi-second first
  tokens (median 140 ms, mean 274 ms, p99 3,387 ms). The calibration gives that
  row's engine a one-time `cold_start_ms` on its first step ([calibration]
  `cold_start_ms`, fitted with the rest); the other rows, and every served
  engine unless told, start warm.
- A request reaches the server a little after its send (the client's
  turnaround, drawn per request). The mean TTFT at c=32, 64 and 256 moves by
  several points with these sub-millisecond timings (whether a wave of
  requests bunches at the frontend or spreads), so a row's simulated figures
  are means over `DRAWS` draws, and the fit keeps every draw's figures near
  the original's: a served run is one more draw.
- `python -m llm_sim.calibrate` prints target vs simulated per row; `--fit`
  fits the cost and frontend terms and the cold start (Nelder-Mead on a smooth
  12-norm of every draw's relative errors, then on the largest of them);
  `--measure --time-factor F` also starts the standalone server at time
  factor F and measures it.
"""

import argparse
import asyncio
import dataclasses
import heapq
import itertools
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, replace

from llm_sim import settings
from llm_sim.scheduler import EngineParams, Frontend, Scheduler, Sequence

METRICS = ("output_throughput", "mean_ttft_ms", "mean_tpot_ms")


@dataclass(frozen=True)
class Workload:
    concurrency: int
    num_prompts: int = 1024
    input_len: int = 512
    output_len: int = 128
    # A request reaches the server `turnaround_ms` on average (engine ms; each
    # request's drawn uniformly from 0 to twice that, seeded by `seed`) after
    # its send: the client's and the network's part, never zero in a real run.
    # With none, a finished request's successor would reach the frontend the
    # instant its last token left, ahead of the next step's tokens: at c=256
    # that alone lowered the mean TTFT by 12%.
    turnaround_ms: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class Result:
    output_throughput: float
    mean_ttft_ms: float
    mean_tpot_ms: float


def _result(w: Workload, sends, firsts, ends) -> Result:
    duration_s = (max(ends) - min(sends)) / 1000.0
    ttft = [f - s for s, f in zip(sends, firsts)]
    tpot = [(e - f) / (w.output_len - 1) for f, e in zip(firsts, ends)]
    return Result(
        w.num_prompts * w.output_len / duration_s,
        statistics.fmean(ttft),
        statistics.fmean(tpot),
    )


def simulate(params: EngineParams, w: Workload) -> Result:
    """The workload against the scheduler and frontend in virtual time (engine
    milliseconds), events in time order as the real engine meets them."""
    scheduler, frontend = Scheduler(params), Frontend(params)
    events: list = []  # (time, tie-breaker, kind, payload)
    tie = itertools.count()
    sends, firsts, ends = [], [], []
    index: dict[Sequence, int] = {}
    busy = False
    rng = random.Random(w.seed)

    def push(when: float, kind: str, payload) -> None:
        heapq.heappush(events, (when, next(tie), kind, payload))

    def send(now: float) -> None:
        seq = Sequence(str(len(sends)), w.input_len, w.output_len)
        index[seq] = len(sends)
        sends.append(now)
        firsts.append(None)
        ends.append(None)
        push(now + rng.uniform(0.0, 2.0 * w.turnaround_ms), "arrive", seq)

    def step(now: float) -> None:
        nonlocal busy
        busy = scheduler.has_work()
        if busy:
            planned = scheduler.schedule()
            push(now + planned.duration_ms, "step", planned)

    for _ in range(min(w.concurrency, w.num_prompts)):
        send(0.0)
    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "arrive":
            push(frontend.intake(now), "admit", payload)
        elif kind == "admit":
            scheduler.add(payload)
            if not busy:
                step(now)
        elif kind == "step":
            emitted = scheduler.complete(payload)
            if emitted:
                tokens = [(index[seq], seq.generated) for seq in emitted]
                push(frontend.emit(now, len(emitted)), "deliver", tokens)
            step(now)
        else:
            for i, generated in payload:
                if generated == 1:
                    firsts[i] = now
                if generated == w.output_len:
                    ends[i] = now
                    if len(sends) < w.num_prompts:
                        send(now)
    return _result(w, sends, firsts, ends)


def targets() -> dict[int, Result]:
    """The original's figures per concurrency, in the order it ran them
    (engine.toml [[calibration.target]])."""
    rows = settings.load()["calibration"]["target"]
    return {r["concurrency"]: Result(*(r[m] for m in METRICS)) for r in rows}


def cold_start_ms() -> float:
    """What the original's first row paid for a fresh engine (engine.toml
    [calibration] cold_start_ms): its sweep ran every row on one `vllm serve`."""
    return float(settings.load()["calibration"].get("cold_start_ms", 0.0))


def row_params(params: EngineParams, concurrency: int, cold_ms: float) -> EngineParams:
    """The engine as the original's row at `concurrency` met it: cold for the
    first row of its sweep, warm after."""
    first = next(iter(targets()))
    return replace(params, cold_start_ms=cold_ms if concurrency == first else 0.0)


DRAWS = 6


def row_draws(
    params: EngineParams, concurrency: int, cold_ms: float | None = None
) -> list[Result]:
    """The original's row at `concurrency`, simulated (`row_params`) once for
    each of `DRAWS` draws of the clients' turnaround times."""
    cold = cold_start_ms() if cold_ms is None else cold_ms
    engine = row_params(params, concurrency, cold)
    return [simulate(engine, Workload(concurrency, seed=s)) for s in range(DRAWS)]


def simulate_row(
    params: EngineParams, concurrency: int, cold_ms: float | None = None
) -> Result:
    """The original's row at `concurrency`: each metric's mean over its draws
    (`row_draws`)."""
    runs = row_draws(params, concurrency, cold_ms)
    return Result(*(statistics.fmean(getattr(r, m) for r in runs) for m in METRICS))


def errors(result: Result, target: Result) -> dict[str, float]:
    """Relative error of each metric (0.1 = 10% off)."""
    return {m: getattr(result, m) / getattr(target, m) - 1.0 for m in METRICS}


FITTED = (
    "base_ms",
    "per_decode_seq_ms",
    "per_prefill_token_ms",
    "intake_ms",
    "emit_ms_per_token",
)


def all_errors(params: EngineParams, cold_ms: float | None = None) -> list[float]:
    """The relative errors of the fifteen figures (five rows, three metrics)."""
    return [
        e
        for c, t in targets().items()
        for e in errors(simulate_row(params, c, cold_ms), t).values()
    ]


def worst_error(params: EngineParams, cold_ms: float | None = None) -> float:
    """The largest relative error of the fifteen figures."""
    return max(abs(e) for e in all_errors(params, cold_ms))


def draw_errors(params: EngineParams, cold_ms: float | None = None) -> list[float]:
    """The relative errors of the fifteen figures in each of `DRAWS` draws of
    the clients' turnaround times (one served run is one such draw)."""
    return [
        e
        for c, t in targets().items()
        for r in row_draws(params, c, cold_ms)
        for e in errors(r, t).values()
    ]


def fit(
    params: EngineParams, cold_ms: float, max_evals: int = 150
) -> tuple[EngineParams, float]:
    """Fits the cost and frontend terms (`FITTED`) and the first row's cold
    start by Nelder-Mead (scipy) from `params`, on the figures of every draw
    (`draw_errors`), so that a served run, which is one draw, lands near them:
    first on a smooth stand-in for the largest error (their 12-norm), then on
    the largest itself. Minimising the largest error alone stalls on its
    kinks."""
    from scipy.optimize import minimize

    def at(x) -> tuple[EngineParams, float]:
        fitted = replace(params, **{name: float(v) for name, v in zip(FITTED, x)})
        return fitted, float(x[-1])

    def norm(x) -> float:
        if min(x) < 0:
            return float("inf")
        return sum(abs(e) ** 12 for e in draw_errors(*at(x))) ** (1 / 12)

    def largest(x) -> float:
        if min(x) < 0:
            return float("inf")
        return max(abs(e) for e in draw_errors(*at(x)))

    x0 = [getattr(params, name) for name in FITTED] + [cold_ms]
    smooth = minimize(norm, x0, method="Nelder-Mead", options={"maxfev": max_evals})
    return at(
        minimize(
            largest,
            smooth.x,
            method="Nelder-Mead",
            options={"maxfev": max_evals, "adaptive": True},
        ).x
    )


async def _one(session, url: str, model: str, w: Workload, clock) -> tuple:
    body = {
        "model": model,
        "prompt": [1000 + i for i in range(w.input_len)],
        "max_tokens": w.output_len,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    sent = clock()
    first = None
    tokens = 0
    async with session.post(url, json=body) as response:
        response.raise_for_status()
        async for line in response.content:
            if not line.startswith(b"data: {"):
                continue
            chunk = json.loads(line[6:])
            if chunk["choices"] and first is None:
                first = clock()
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    if tokens != w.output_len:
        raise RuntimeError(f"got {tokens} output tokens, expected {w.output_len}")
    return sent, first, clock()


async def measure(
    url: str, model: str, w: Workload, time_factor: float = 1.0
) -> Result:
    """The workload over HTTP (closed loop), durations divided by time_factor."""
    import aiohttp

    loop = asyncio.get_running_loop()

    def clock() -> float:
        return loop.time() * 1000.0 / time_factor

    todo = iter(range(w.num_prompts))
    samples = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def user() -> None:
            for _ in todo:
                samples.append(await _one(session, url, model, w, clock))

        await asyncio.gather(*(user() for _ in range(w.concurrency)))
    return _result(w, *zip(*samples))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _table(rows: dict[int, dict[str, Result]]) -> str:
    lines = []
    for c, results in rows.items():
        target = results["target"]
        for name, r in results.items():
            errs = (
                ""
                if name == "target"
                else "  " + " ".join(f"{e:+.0%}" for e in errors(r, target).values())
            )
            lines.append(
                f"c={c:<4} {name:<9} {r.output_throughput:8.0f} tok/s  TTFT {r.mean_ttft_ms:7.1f}"
                f" ms  TPOT {r.mean_tpot_ms:5.1f} ms{errs}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m llm_sim.calibrate", description=__doc__
    )
    parser.add_argument("--fit", action="store_true", help="fit the engine first")
    parser.add_argument(
        "--measure", action="store_true", help="also measure the server"
    )
    parser.add_argument("--time-factor", type=float, default=1.0)
    parser.add_argument(
        "--concurrency", type=int, nargs="*", help="default: all targets"
    )
    args = parser.parse_args(argv)
    params, cold = settings.engine_params(), cold_start_ms()
    if args.fit:
        params, cold = fit(params, cold)
        print(
            "fitted:",
            params,
            f"cold_start_ms={cold:.1f}",
            f"worst error {worst_error(params, cold):.1%}",
        )
    rows = {c: {"target": t} for c, t in targets().items()}
    for c in args.concurrency or list(rows):
        rows[c]["simulated"] = simulate_row(params, c, cold)
    if args.measure:
        port = _free_port()
        model = settings.vllm_model()
        # One server for every row, in the original's order, as it ran one
        # `vllm serve`: cold when its first row is the original's first.
        asked = args.concurrency or list(rows)
        measured = [c for c in rows if c in asked]
        first_cold = cold if measured and measured[0] == next(iter(targets())) else 0.0
        served = replace(params, time_factor=args.time_factor, cold_start_ms=first_cold)
        flags = [
            f"--{k.replace('_', '-')}={v}"
            for k, v in dataclasses.asdict(served).items()
        ]
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llm_sim.server",
                f"--port={port}",
                f"--model={model}",
                *flags,
            ],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        try:
            _wait_ready(port)
            url = f"http://127.0.0.1:{port}/v1/completions"
            for c in measured:
                result = asyncio.run(measure(url, model, Workload(c), args.time_factor))
                rows[c]["measured"] = result
                print(f"c={c} measured: {result}", flush=True)
            print("server:", _get(port, "/sim/info"))
        finally:
            server.terminate()
            server.wait()
    print(_table({c: r for c, r in rows.items() if len(r) > 1}))


def _get(port: int, path: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read().decode()


def _wait_ready(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _get(port, "/health")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


if __name__ == "__main__":
    main()
