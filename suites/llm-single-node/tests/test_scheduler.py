"""The continuous-batching scheduler: budget, running limit, chunked prefill, FCFS,
exact token counts, the step cost model."""

import pytest
from llm_sim.scheduler import EngineParams, Scheduler, Sequence


def params(**kw) -> EngineParams:
    base = {"base_ms": 2.0, "per_decode_seq_ms": 0.5, "per_prefill_token_ms": 0.01}
    return EngineParams(**{**base, **kw})


def run(scheduler: Scheduler) -> list:
    """Steps until idle; returns the steps."""
    steps = []
    while scheduler.has_work():
        step = scheduler.schedule()
        scheduler.complete(step)
        steps.append(step)
    return steps


def test_token_budget_limits_prefill_and_chunks_long_prompts():
    s = Scheduler(params(max_num_batched_tokens=100))
    a, b = Sequence("a", 60, 2), Sequence("b", 70, 2)
    s.add(a)
    s.add(b)
    step = s.schedule()
    assert [(q.request_id, n) for q, n in step.work] == [("a", 60), ("b", 40)]
    assert step.prefill_tokens == 100 and step.decode_seqs == 0
    assert s.complete(step) == [a]  # a's prompt is done: its first token
    step = s.schedule()  # a decodes, b prefills the rest of its prompt
    assert [(q.request_id, n) for q, n in step.work] == [("a", 0), ("b", 30)]
    assert s.complete(step) == [a, b]
    assert a.finished and not b.finished
    assert s.running == [b]


def test_decodes_are_scheduled_before_new_prefills():
    s = Scheduler(params(max_num_batched_tokens=10))
    first = Sequence("first", 9, 5)
    s.add(first)
    s.complete(s.schedule())
    s.add(Sequence("late", 20, 1))
    step = s.schedule()
    assert [(q.request_id, n) for q, n in step.work] == [("first", 0), ("late", 9)]


def test_max_num_seqs_and_fcfs_admission():
    s = Scheduler(params(max_num_seqs=2))
    seqs = [Sequence(str(i), 4, 3) for i in range(5)]
    for seq in seqs:
        s.add(seq)
    admitted = []
    while s.has_work():
        step = s.schedule()
        assert len(s.running) <= 2
        admitted += [q.request_id for q, n in step.work if n]
        s.complete(step)
    assert admitted == ["0", "1", "2", "3", "4"]


def test_every_sequence_gets_exactly_max_tokens():
    s = Scheduler(params(max_num_seqs=3, max_num_batched_tokens=50))
    seqs = [Sequence(str(i), 20 + 7 * i, 1 + i * 3) for i in range(6)]
    for seq in seqs:
        s.add(seq)
    emitted = {seq.request_id: 0 for seq in seqs}
    while s.has_work():
        for seq in s.complete(s.schedule()):
            emitted[seq.request_id] += 1
    assert emitted == {seq.request_id: seq.max_tokens for seq in seqs}
    assert all(seq.prefilled == seq.prompt_tokens for seq in seqs)


def test_step_duration_follows_the_cost_model():
    s = Scheduler(params())
    s.add(Sequence("a", 100, 3))
    first, *decodes = run(s)
    assert first.duration_ms == pytest.approx(2.0 + 0.01 * 100)
    assert [d.duration_ms for d in decodes] == [pytest.approx(2.5)] * 2


def test_a_cold_start_is_paid_by_the_first_step_only():
    s = Scheduler(params(cold_start_ms=500.0))
    s.add(Sequence("a", 100, 3))
    first, *decodes = run(s)
    assert first.duration_ms == pytest.approx(500.0 + 2.0 + 0.01 * 100)
    assert [d.duration_ms for d in decodes] == [pytest.approx(2.5)] * 2
    s.add(Sequence("b", 100, 1))
    (again,) = run(s)
    assert again.duration_ms == pytest.approx(2.0 + 0.01 * 100), (
        "warm after its first step"
    )
    with pytest.raises(ValueError):
        EngineParams(cold_start_ms=-1.0)


def test_jitter_is_seeded():
    def durations(seed: int) -> list[float]:
        s = Scheduler(params(jitter=0.2, seed=seed))
        s.add(Sequence("a", 10, 20))
        return [step.duration_ms for step in run(s)]

    assert durations(1) == durations(1) != durations(2)
    assert all(d >= 0 for d in durations(3))


def test_abort_drops_a_sequence_even_mid_step():
    s = Scheduler(params())
    a, b = Sequence("a", 5, 4), Sequence("b", 5, 4)
    s.add(a)
    s.add(b)
    step = s.schedule()
    s.abort(a)
    assert s.complete(step) == [b]
    assert s.running == [b]
    run(s)
    assert b.finished and a.generated == 0


def test_invalid_parameters_and_requests_are_refused():
    with pytest.raises(ValueError):
        EngineParams(max_num_seqs=0)
    with pytest.raises(ValueError):
        EngineParams(time_factor=0)
    with pytest.raises(ValueError):
        Sequence("x", 0, 1)
