"""The micro-batcher: windows, size bounds, keys, errors, and an unblocked event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from game_agent.state import AdaptationState
from games.registry import parse_spec
from server.batcher import MicroBatcher, TurnBatcher, TurnInput, TurnKey
from tests.server.conftest import MATRIX, CountingLearner


class Recorder:
    """A batch function that records each batch and answers ``item * 10``."""

    def __init__(self, delay_s: float = 0.0):
        self.batches: list[tuple[str, list[int]]] = []
        self.threads: set[str] = set()
        self.delay_s = delay_s

    def __call__(self, key: str, items: list[int]) -> list[object]:
        self.batches.append((key, list(items)))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay_s)
        return [ValueError(f"bad {i}") if i < 0 else i * 10 for i in items]


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def pool():
    with ThreadPoolExecutor(2, thread_name_prefix="batch") as executor:
        yield executor


def test_items_in_one_window_share_a_batch(pool):
    record = Recorder()
    batcher = MicroBatcher(record, pool, window_s=0.05, max_batch=10)

    async def main():
        return await asyncio.gather(*(batcher.submit("k", i) for i in range(4)))

    assert run(main()) == [0, 10, 20, 30]
    assert record.batches == [("k", [0, 1, 2, 3])]
    assert all(name.startswith("batch") for name in record.threads)


def test_a_full_batch_runs_without_waiting_for_the_window(pool):
    record = Recorder()
    batcher = MicroBatcher(record, pool, window_s=30.0, max_batch=3)

    async def main():
        started = time.perf_counter()
        results = await asyncio.gather(*(batcher.submit("k", i) for i in range(6)))
        return results, time.perf_counter() - started

    results, elapsed = run(main())
    assert results == [0, 10, 20, 30, 40, 50] and elapsed < 5
    assert [items for _, items in record.batches] == [[0, 1, 2], [3, 4, 5]]


def test_keys_are_batched_separately(pool):
    record = Recorder()
    batcher = MicroBatcher(record, pool, window_s=0.02, max_batch=10)

    async def main():
        return await asyncio.gather(
            batcher.submit("a", 1), batcher.submit("b", 2), batcher.submit("a", 3)
        )

    assert run(main()) == [10, 20, 30]
    assert sorted(record.batches) == [("a", [1, 3]), ("b", [2])]


def test_a_zero_window_groups_what_arrives_in_one_loop_tick(pool):
    record = Recorder()
    sizes: list[int] = []
    batcher = MicroBatcher(
        record, pool, window_s=0.0, max_batch=10, on_batch=lambda _k, n: sizes.append(n)
    )

    async def main():
        first = await asyncio.gather(*(batcher.submit(None, i) for i in range(3)))
        second = await batcher.submit(None, 7)
        return first, second

    assert run(main()) == ([0, 10, 20], 70)
    assert sizes == [3, 1]


def test_errors_reach_the_right_submitters(pool):
    batcher = MicroBatcher(Recorder(), pool, window_s=0.01, max_batch=10)

    async def per_item():
        return await asyncio.gather(
            batcher.submit("k", 1), batcher.submit("k", -2), return_exceptions=True
        )

    ok, bad = run(per_item())
    assert ok == 10 and isinstance(bad, ValueError) and "bad -2" in str(bad)

    def explode(key, items):
        raise RuntimeError("the model crashed")

    failing = MicroBatcher(explode, pool, window_s=0.01, max_batch=10)

    async def whole_batch():
        return await asyncio.gather(
            failing.submit("k", 1), failing.submit("k", 2), return_exceptions=True
        )

    assert [str(e) for e in run(whole_batch())] == ["the model crashed"] * 2


def test_the_event_loop_keeps_running_during_a_batch(pool):
    batcher = MicroBatcher(Recorder(delay_s=0.3), pool, window_s=0.0, max_batch=10)

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        result = await batcher.submit("k", 4)
        task.cancel()
        return result, ticks

    result, ticks = run(main())
    assert result == 40 and ticks >= 10


def test_drain_runs_open_batches_now(pool):
    record = Recorder()
    batcher = MicroBatcher(record, pool, window_s=60.0, max_batch=10)

    async def main():
        pending = asyncio.ensure_future(batcher.submit("k", 5))
        await asyncio.sleep(0)
        await batcher.drain()
        return await pending

    assert run(main()) == 50


def test_items_arriving_while_every_thread_is_busy_wait_and_share_the_next_batch(pool):
    record = Recorder(delay_s=0.3)
    sizes: list[int] = []
    batcher = MicroBatcher(
        record,
        pool,
        window_s=0.01,
        max_batch=10,
        on_batch=lambda _k, n: sizes.append(n),
        max_in_flight=1,
    )

    async def main():
        first = asyncio.ensure_future(batcher.submit("k", 0))
        later = []
        for i in range(1, 5):  # each arrives after the previous one's window has closed
            await asyncio.sleep(0.04)
            later.append(asyncio.ensure_future(batcher.submit("k", i)))
        return await first, await asyncio.gather(*later)

    assert run(main()) == (0, [10, 20, 30, 40])
    assert [items for _, items in record.batches] == [[0], [1, 2, 3, 4]]
    assert sizes == [1, 4]


def test_without_an_in_flight_bound_each_window_runs_its_own_batch(pool):
    record = Recorder(delay_s=0.2)
    batcher = MicroBatcher(record, pool, window_s=0.01, max_batch=10)

    async def main():
        pending = [asyncio.ensure_future(batcher.submit("k", 0))]
        for i in range(1, 3):
            await asyncio.sleep(0.04)
            pending.append(asyncio.ensure_future(batcher.submit("k", i)))
        return await asyncio.gather(*pending)

    assert run(main()) == [0, 10, 20]
    assert [items for _, items in record.batches] == [[0], [1], [2]]


def test_a_full_batch_runs_even_while_every_thread_is_busy(pool):
    record = Recorder(delay_s=0.2)
    batcher = MicroBatcher(record, pool, window_s=0.0, max_batch=2, max_in_flight=1)

    async def main():
        first = asyncio.ensure_future(batcher.submit("k", 0))
        await asyncio.sleep(0.05)
        rest = await asyncio.gather(*(batcher.submit("k", i) for i in range(1, 4)))
        return await first, rest

    assert run(main()) == (0, [10, 20, 30])
    assert sorted(items for _, items in record.batches) == [[0], [1, 2], [3]]


def test_drain_runs_batches_held_back_by_the_in_flight_bound(pool):
    record = Recorder(delay_s=0.1)
    batcher = MicroBatcher(record, pool, window_s=0.0, max_batch=10, max_in_flight=1)

    async def main():
        first = asyncio.ensure_future(batcher.submit("k", 1))
        await asyncio.sleep(0.02)
        second = asyncio.ensure_future(batcher.submit("k", 2))
        await asyncio.sleep(0)
        await batcher.drain()
        assert second.done()
        return await first, await second

    assert run(main()) == (10, 20)


def test_max_in_flight_must_be_positive(pool):
    with pytest.raises(ValueError, match="max_in_flight"):
        MicroBatcher(Recorder(), pool, window_s=0.0, max_batch=1, max_in_flight=0)


def test_turn_batcher_observes_rewards_then_acts_once_per_batch(pool):
    learner = CountingLearner()
    spec = parse_spec(MATRIX)
    turns = TurnBatcher({"matrix": learner}, pool, window_s=0.05, max_batch=8)
    fresh = learner.initial_state(spec)
    [acted] = learner.act([fresh], np.zeros((1, 81), np.float32), np.ones((1, 5), bool))[1]
    mask = np.array([True, True, True, False, False])
    obs = np.zeros(81, np.float32)
    key = TurnKey("matrix", spec.name, False)

    async def main():
        return await asyncio.gather(
            turns.act(key, TurnInput(fresh, obs, mask, None)),
            turns.act(key, TurnInput(acted, obs, mask, 2.0)),
        )

    first, second = run(main())
    assert learner.act_batches[-1] == 2
    assert first.action == 0  # nothing seen yet
    # One turn acted and a reward of 2 observed: (1 + 0 + 2) mod 3 legal actions = 0.
    counts = second.state.arrays["counts"].tolist()
    assert counts == [2, 1, 0, 0] and second.action == 0
    stored = AdaptationState.from_bytes(second.state_bytes, learner="counting", spec=spec.name)
    assert stored.arrays["counts"].tolist() == counts
    assert first.probs.dtype == np.float32 and first.probs.sum() == pytest.approx(1.0)


def test_turn_batcher_refuses_a_masked_choice(pool):
    class Cheater(CountingLearner):
        def act(self, states, obs, masks, *, greedy=False):
            decision, new = super().act(states, obs, masks, greedy=greedy)
            return decision._replace(actions=np.full(len(states), 4)), new

    spec = parse_spec(MATRIX)
    turns = TurnBatcher({"matrix": Cheater()}, pool, window_s=0.0, max_batch=8)
    state = Cheater().initial_state(spec)
    mask = np.array([True, True, True, False, False])
    turn = TurnInput(state, np.zeros(81, np.float32), mask, None)
    with pytest.raises(RuntimeError, match="masked action 4"):
        run(turns.act(TurnKey("matrix", spec.name, False), turn))
