"""The simulated engine in real time: one asyncio task steps the scheduler.

Engine time runs at 1 / `time_factor` of the event loop's clock. Each step sleeps
for its duration, then the step's tokens pass the frontend (`scheduler.Frontend`)
and every sequence that got one is woken once. A reader that falls behind gets
several tokens at once (as vLLM's output processor merges them), so the
per-token Python work is a counter update per sequence per step.

Steps are timed against a deadline: while the engine is busy, a step starts when
the previous one was due to end, so the time spent delivering outputs does not
add up. When the event loop is late by more than a whole step, the engine does
not catch up in a burst; the engine time lost is counted in `stats()`
(`late_ms`, engine milliseconds), which tells whether this CPU kept up.
"""

import asyncio
from collections.abc import AsyncIterator

from llm_sim.scheduler import EngineParams, Frontend, Scheduler, Sequence


class _Stream:
    """Per-request hand-off between the stepping task and the reader."""

    __slots__ = ("available", "delivered", "seq", "waiter")

    def __init__(self, seq: Sequence):
        self.seq = seq
        self.available = 0
        self.delivered = 0
        self.waiter: asyncio.Future | None = None


class EngineCore:
    """Continuous-batching engine driven by the event loop's clock."""

    def __init__(self, params: EngineParams):
        self.params = params
        self._scheduler = Scheduler(params)
        self._frontend = Frontend(params)
        self._streams: dict[Sequence, _Stream] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0
        self._next_id = 0
        self._steps = 0
        self._late_ms = 0.0
        self._max_late_ms = 0.0

    def start(self) -> None:
        """Starts the stepping task on the running event loop."""
        if self._task is None:
            self._loop = asyncio.get_running_loop()
            self._t0 = self._loop.time()
            self._task = self._loop.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def stats(self) -> dict:
        """Counters since start (engine milliseconds): steps, lateness, load now."""
        return {
            "steps": self._steps,
            "late_ms": round(self._late_ms, 3),
            "max_late_ms": round(self._max_late_ms, 3),
            "running": len(self._scheduler.running),
            "waiting": len(self._scheduler.waiting),
        }

    def _now(self) -> float:
        return (self._loop.time() - self._t0) * 1000.0 / self.params.time_factor

    def _at(self, engine_ms: float, callback, *args) -> None:
        if engine_ms <= self._now():
            callback(*args)
        else:
            when = self._t0 + engine_ms * self.params.time_factor / 1000.0
            self._loop.call_at(when, callback, *args)

    async def generate(self, prompt_tokens: int, max_tokens: int) -> AsyncIterator[int]:
        """Runs one request; yields how many new tokens arrived (>= 1) until
        `max_tokens` have. Closing the iterator early aborts the request."""
        self._next_id += 1
        seq = Sequence(str(self._next_id), prompt_tokens, max_tokens)
        stream = _Stream(seq)
        self._streams[seq] = stream
        self._at(self._frontend.intake(self._now()), self._admit, seq)
        try:
            while stream.delivered < max_tokens:
                if stream.available == stream.delivered:
                    stream.waiter = self._loop.create_future()
                    await stream.waiter
                new = stream.available - stream.delivered
                stream.delivered = stream.available
                yield new
        finally:
            del self._streams[seq]
            if not seq.finished:
                self._scheduler.abort(seq)

    def _admit(self, seq: Sequence) -> None:
        if not seq.aborted:
            self._scheduler.add(seq)
            self._wake.set()

    def _deliver(self, tokens: list[tuple[Sequence, int]]) -> None:
        for seq, generated in tokens:
            stream = self._streams.get(seq)
            if stream is not None:
                stream.available = generated
                if stream.waiter is not None and not stream.waiter.done():
                    stream.waiter.set_result(None)

    async def _run(self) -> None:
        scale = self.params.time_factor / 1000.0
        due = self._now()
        while True:
            if not self._scheduler.has_work():
                self._wake.clear()
                await self._wake.wait()
                due = self._now()
            step = self._scheduler.schedule()
            now = self._now()
            if now - due > step.duration_ms:
                self._late_ms += now - due
                due = now
            due += step.duration_ms
            await asyncio.sleep(max(0.0, due - self._now()) * scale)
            self._max_late_ms = max(self._max_late_ms, self._now() - due)
            self._steps += 1
            emitted = self._scheduler.complete(step)
            if emitted:
                ready = self._frontend.emit(due, len(emitted))
                self._at(
                    ready, self._deliver, [(seq, seq.generated) for seq in emitted]
                )
