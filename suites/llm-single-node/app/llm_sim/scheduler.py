"""Continuous-batching scheduler, step cost model and frontend, in engine time.

It follows vLLM's (V1) scheduler: each step has a token budget
(`max_num_batched_tokens`); running sequences are served first (one decode token
each, or the next chunk of a prompt still being prefilled), then waiting requests
are admitted first-come first-served while there is budget left and fewer than
`max_num_seqs` are running. A prompt longer than the budget left is prefilled in
chunks over several steps; the step that completes a prompt also samples the
sequence's first output token. Every sequence produces exactly `max_tokens`
tokens (EOS is ignored, as the benchmark asks).

A step lasts `base_ms + per_decode_seq_ms * decode_seqs + per_prefill_token_ms *
prefill_tokens` milliseconds of engine time, times `1 + jitter * N(0, 1)` (seeded,
never below zero) when `jitter` is set. An engine's first step also takes
`cold_start_ms` (0 unless set): what a fresh vLLM pays on its first batch
(compilation, allocation), which the original's first measured row carries.

In front of the scheduler sits vLLM's API server, modelled as one FIFO worker
(`Frontend`, it is one process): a new request reaches the scheduler after
`intake_ms` of its time (HTTP, validation, tokenization) and a step's tokens
reach their readers after `emit_ms_per_token` each (detokenization, formatting).
Without it the step cost model cannot reproduce the measured split between time
to first token and time per output token (see `engine.toml`).

Nothing here reads a clock: the asyncio engine (`engine.py`) sleeps for each
step, the calibration (`calibrate.py`) runs the same code in virtual time.
"""

import random
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class EngineParams:
    """Everything that shapes the simulated engine's timing."""

    max_num_seqs: int = 256
    max_num_batched_tokens: int = 16384
    max_model_len: int = 4096
    base_ms: float = 0.0
    per_decode_seq_ms: float = 0.0
    per_prefill_token_ms: float = 0.0
    intake_ms: float = 0.0
    emit_ms_per_token: float = 0.0
    cold_start_ms: float = 0.0
    jitter: float = 0.0
    seed: int = 0
    time_factor: float = 1.0

    def __post_init__(self):
        if min(self.max_num_seqs, self.max_num_batched_tokens, self.max_model_len) < 1:
            raise ValueError(
                "max_num_seqs, max_num_batched_tokens, max_model_len must be >= 1"
            )
        costs = (self.base_ms, self.per_decode_seq_ms, self.per_prefill_token_ms)
        extra = (
            self.intake_ms,
            self.emit_ms_per_token,
            self.cold_start_ms,
            self.jitter,
        )
        if min(*costs, *extra) < 0:
            raise ValueError("costs and jitter must be >= 0")
        if self.time_factor <= 0:
            raise ValueError("time_factor must be > 0")

    def step_ms(self, decode_seqs: int, prefill_tokens: int) -> float:
        """A step's duration (engine time, before jitter and time_factor)."""
        return (
            self.base_ms
            + self.per_decode_seq_ms * decode_seqs
            + self.per_prefill_token_ms * prefill_tokens
        )


@dataclass(eq=False)
class Sequence:
    """One request inside the engine."""

    request_id: str
    prompt_tokens: int
    max_tokens: int
    prefilled: int = 0
    generated: int = 0
    aborted: bool = False

    def __post_init__(self):
        if self.prompt_tokens < 1 or self.max_tokens < 1:
            raise ValueError("a request needs >= 1 prompt token and max_tokens >= 1")

    @property
    def finished(self) -> bool:
        return self.generated >= self.max_tokens


@dataclass
class Step:
    """What one engine step computes: (sequence, prompt tokens prefilled) pairs,
    0 prompt tokens meaning a decode."""

    work: list[tuple[Sequence, int]]
    decode_seqs: int
    prefill_tokens: int
    duration_ms: float


class Scheduler:
    """Waiting queue (FCFS) + running set, stepped by `schedule` then `complete`."""

    def __init__(self, params: EngineParams):
        self.params = params
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self._rng = random.Random(params.seed)
        self._cold = params.cold_start_ms > 0

    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)

    def abort(self, seq: Sequence) -> None:
        """Drops a sequence (client gone); a step in flight skips it."""
        seq.aborted = True
        if seq in self.running:
            self.running.remove(seq)
        elif seq in self.waiting:
            self.waiting.remove(seq)

    def has_work(self) -> bool:
        return bool(self.running or self.waiting)

    def schedule(self) -> Step:
        """Picks the next step's batch (call only when `has_work()`)."""
        p = self.params
        budget = p.max_num_batched_tokens
        work: list[tuple[Sequence, int]] = []
        decode_seqs = prefill_tokens = 0
        for seq in self.running:
            if budget == 0:
                break
            left = seq.prompt_tokens - seq.prefilled
            if left:
                chunk = min(left, budget)
                work.append((seq, chunk))
                prefill_tokens += chunk
                budget -= chunk
            else:
                work.append((seq, 0))
                decode_seqs += 1
                budget -= 1
        while self.waiting and budget > 0 and len(self.running) < p.max_num_seqs:
            seq = self.waiting.popleft()
            chunk = min(seq.prompt_tokens, budget)
            self.running.append(seq)
            work.append((seq, chunk))
            prefill_tokens += chunk
            budget -= chunk
        duration = p.step_ms(decode_seqs, prefill_tokens)
        if p.jitter:
            duration *= max(0.0, 1.0 + p.jitter * self._rng.gauss(0.0, 1.0))
        if self._cold:
            duration += p.cold_start_ms
            self._cold = False
        return Step(work, decode_seqs, prefill_tokens, duration)

    def complete(self, step: Step) -> list[Sequence]:
        """Applies a finished step; returns the sequences that got a token
        (each exactly one), finished ones already removed from the running set."""
        emitted = []
        for seq, chunk in step.work:
            if seq.aborted:
                continue
            seq.prefilled += chunk
            if seq.prefilled == seq.prompt_tokens:
                seq.generated += 1
                emitted.append(seq)
        if any(seq.finished for seq in emitted):
            self.running = [s for s in self.running if not s.finished]
        return emitted


class Frontend:
    """The API server as one FIFO worker; times in engine milliseconds."""

    def __init__(self, params: EngineParams):
        self.params = params
        self.free_at = 0.0

    def intake(self, now: float) -> float:
        """A request arriving at `now` reaches the scheduler at the returned time."""
        self.free_at = max(self.free_at, now) + self.params.intake_ms
        return self.free_at

    def emit(self, now: float, tokens: int) -> float:
        """Tokens produced at `now` reach their readers at the returned time."""
        self.free_at = max(self.free_at, now) + self.params.emit_ms_per_token * tokens
        return self.free_at
