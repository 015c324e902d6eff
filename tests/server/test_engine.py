"""The turn engine: batching without a timer, one commit per batch, errors kept per job,
and an event loop that keeps running while a batch computes."""

from __future__ import annotations

import argparse
import asyncio
import threading
import time

import numpy as np
import pytest

from game_agent.errors import ConfigError
from game_agent.state import AdaptationState
from games.registry import parse_spec
from server.cli import add_serve_arguments, config_from_args
from server.config import ServerConfig
from server.engine import Job, TurnEngine, TurnInput, TurnKey
from server.models import ModelRegistry
from server.stores.base import Commit, CommitStatus
from tests.server.conftest import (
    MATRIX,
    CountingLearner,
    act_request,
    counting_model,
    start_session,
)

SPEC = parse_spec(MATRIX)
KEY = TurnKey("matrix", SPEC.name, False)
OBS = np.zeros(81, np.float32)
MASK = np.array([True, True, True, False, False])


class Committer:
    """A store's ``commit``: records each transaction, optionally slowly or failing."""

    def __init__(self, delay_s: float = 0.0, fail: bool = False):
        self.transactions: list[list[str]] = []
        self.threads: set[str] = set()
        self.delay_s = delay_s
        self.fail = fail

    def __call__(self, commits):
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay_s)
        if self.fail:
            raise OSError("disk full")
        self.transactions.append([c.session for c in commits])
        return [CommitStatus.APPLIED] * len(commits)


def commit_only(name: str, results: dict[str, object], owner: str | None = None) -> Job:
    """A job with no turn that commits ``name`` and records its outcome under ``name``."""

    def finish(row):
        assert row is None
        return name, Commit(name, expected_turn=0)  # type: ignore[arg-type]

    return Job(finish, lambda outcome: results.__setitem__(name, outcome), owner=owner)


def turn_job(name: str, state: AdaptationState, reward: float | None, results: dict) -> Job:
    def finish(row):
        return row, Commit(name, expected_turn=0)  # type: ignore[arg-type]

    turn = (KEY, TurnInput(state, OBS, MASK, reward, 0.5))
    return Job(finish, lambda outcome: results.__setitem__(name, outcome), turn)


async def settle(engine: TurnEngine) -> None:
    await engine.drain()
    engine.close()


def test_jobs_arriving_while_a_batch_runs_share_the_next_transaction():
    committer = Committer(delay_s=0.2)
    engine = TurnEngine({}, committer, threads=1, max_batch=64)
    results: dict[str, object] = {}

    async def main():
        engine.submit(commit_only("a", results))
        await asyncio.sleep(0.05)  # "a" is being committed
        for name in "bcd":
            engine.submit(commit_only(name, results))
        await settle(engine)

    asyncio.run(main())
    assert committer.transactions == [["a"], ["b", "c", "d"]]
    assert results == {name: (name, CommitStatus.APPLIED) for name in "abcd"}
    assert committer.threads == {"turns_0"}


def test_batches_are_bounded_by_max_batch():
    committer = Committer(delay_s=0.1)
    engine = TurnEngine({}, committer, threads=1, max_batch=2)
    results: dict[str, object] = {}

    async def main():
        engine.submit(commit_only("a", results))
        await asyncio.sleep(0.03)
        for name in "bcde":
            engine.submit(commit_only(name, results))
        await settle(engine)

    asyncio.run(main())
    assert committer.transactions == [["a"], ["b", "c"], ["d", "e"]]


def test_a_window_lets_a_lone_job_wait_for_company():
    committer = Committer()
    engine = TurnEngine({}, committer, threads=1, max_batch=8, window_s=0.3)
    results: dict[str, object] = {}

    async def main():
        engine.submit(commit_only("a", results))
        await asyncio.sleep(0.05)
        engine.submit(commit_only("b", results))
        await settle(engine)

    asyncio.run(main())
    assert committer.transactions == [["a", "b"]]


CROWD = {"crowd_window_s": 5.0, "crowd_gap_s": 0.3}


def test_while_sessions_crowd_a_batch_keeps_taking_turns_until_a_lull():
    committer = Committer()
    engine = TurnEngine({}, committer, threads=1, max_batch=8, crowd_recent_s=60.0, **CROWD)
    results: dict[str, object] = {}

    async def main():
        engine.submit(commit_only("x", results, owner="p1"))
        engine.submit(commit_only("y", results, owner="p2"))  # two sessions: a crowd
        await engine.drain()
        engine.submit(commit_only("a", results, owner="p1"))
        engine.submit(commit_only("b", results, owner="p2"))
        await asyncio.sleep(0.05)  # within the 0.3 s gap: joins the batch
        engine.submit(commit_only("c", results, owner="p1"))
        await asyncio.sleep(1.0)  # after a lull: the next batch
        engine.submit(commit_only("d", results, owner="p2"))
        await settle(engine)

    asyncio.run(main())
    assert committer.transactions[-2:] == [["a", "b", "c"], ["d"]]


@pytest.mark.parametrize("crowd_before", [False, True], ids=["never", "gone"])
def test_a_lone_session_never_waits_for_company(crowd_before):
    committer = Committer()
    engine = TurnEngine({}, committer, threads=1, max_batch=8, crowd_recent_s=0.05, **CROWD)
    results: dict[str, object] = {}

    async def main():
        if crowd_before:  # two sessions played, then one left
            engine.submit(commit_only("x", results, owner="p1"))
            engine.submit(commit_only("y", results, owner="p2"))
            engine.submit(commit_only("z", results, owner="p1"))
            await engine.drain()
            await asyncio.sleep(0.2)  # longer than crowd_recent_s
        engine.submit(commit_only("a", results, owner="p1"))
        await asyncio.sleep(0.2)
        engine.submit(commit_only("b", results, owner="p1"))
        await settle(engine)

    asyncio.run(main())
    assert committer.transactions[-2:] == [["a"], ["b"]]


def test_turns_observe_rewards_then_act_once_per_batch_and_commit_together():
    learner = CountingLearner()
    committer = Committer(delay_s=0.1)
    engine = TurnEngine({"matrix": learner}, committer, threads=1, max_batch=8)
    fresh = learner.initial_state(SPEC)
    [acted] = learner.act([fresh], OBS[None], MASK[None])[1]
    results: dict[str, object] = {}

    async def main():
        engine.submit(commit_only("x", results))
        await asyncio.sleep(0.03)  # the next three share a batch
        engine.submit(turn_job("first", fresh, None, results))
        engine.submit(turn_job("second", acted, 2.0, results))
        engine.submit(commit_only("end", results))
        await settle(engine)

    asyncio.run(main())
    assert committer.transactions == [["x"], ["first", "second", "end"]]
    assert learner.act_batches[-1] == 2
    first, _ = results["first"]
    second, _ = results["second"]
    assert first.action == 0  # nothing seen yet
    # One turn acted and a reward of 2 observed: (1 + 0 + 2) mod 3 legal actions = 0.
    counts = second.state.arrays["counts"].tolist()
    assert counts == [2, 1, 0, 0] and second.action == 0
    stored = AdaptationState.from_bytes(second.state_bytes, learner="counting", spec=SPEC.name)
    assert stored.arrays["counts"].tolist() == counts
    assert first.probs.dtype == np.float32 and first.probs.sum() == pytest.approx(1.0)


def test_a_masked_choice_fails_its_forward_pass_only():
    class Cheater(CountingLearner):
        def act(self, states, obs, masks, *, greedy=False, draws=None):
            decision, new = super().act(states, obs, masks, greedy=greedy)
            return decision._replace(actions=np.full(len(states), 4)), new

    committer = Committer()
    engine = TurnEngine({"matrix": Cheater()}, committer, threads=1, max_batch=8)
    results: dict[str, object] = {}

    async def main():
        engine.submit(turn_job("t", Cheater().initial_state(SPEC), None, results))
        engine.submit(commit_only("c", results))
        await settle(engine)

    asyncio.run(main())
    assert isinstance(results["t"], RuntimeError) and "masked action 4" in str(results["t"])
    assert results["c"] == ("c", CommitStatus.APPLIED)
    assert committer.transactions == [["c"]]


def test_a_failing_finish_is_its_jobs_alone_and_a_failing_commit_the_batchs():
    results: dict[str, object] = {}
    broken = Job(lambda row: 1 / 0, lambda outcome: results.__setitem__("broken", outcome))
    committer = Committer()
    engine = TurnEngine({}, committer, threads=1, max_batch=8)
    failing = TurnEngine({}, Committer(fail=True), threads=1, max_batch=8)

    async def main():
        engine.submit(broken)
        engine.submit(commit_only("fine", results))
        await settle(engine)
        failing.submit(commit_only("lost1", results))
        failing.submit(commit_only("lost2", results))
        await settle(failing)

    asyncio.run(main())
    assert isinstance(results["broken"], ZeroDivisionError)
    assert results["fine"] == ("fine", CommitStatus.APPLIED)
    assert isinstance(results["lost1"], OSError) and isinstance(results["lost2"], OSError)


def test_the_event_loop_keeps_running_while_a_batch_computes():
    engine = TurnEngine({}, Committer(delay_s=0.3), threads=1, max_batch=8)
    results: dict[str, object] = {}

    async def main():
        ticks = 0
        engine.submit(commit_only("slow", results))
        started = time.monotonic()
        while "slow" not in results:
            await asyncio.sleep(0.01)
            ticks += 1
        await settle(engine)
        return ticks, time.monotonic() - started

    ticks, elapsed = asyncio.run(main())
    assert elapsed >= 0.25 and ticks >= 10


def test_drain_waits_for_every_delivery_and_close_stops_the_workers():
    engine = TurnEngine({}, Committer(delay_s=0.05), threads=2, max_batch=1)
    results: dict[str, object] = {}

    async def main():
        for name in "abcdef":
            engine.submit(commit_only(name, results))
        await engine.drain()
        delivered = len(results)
        engine.close()
        return delivered

    assert asyncio.run(main()) == 6
    assert not any(t.name.startswith("turns_") and t.is_alive() for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(_submit_after_close(engine))


async def _submit_after_close(engine: TurnEngine) -> None:
    engine.submit(commit_only("late", {}))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="threads"):
        TurnEngine({}, Committer(), threads=0, max_batch=1)
    with pytest.raises(ValueError, match="window_s"):
        TurnEngine({}, Committer(), threads=1, max_batch=1, window_s=-1)


def test_an_engine_closed_before_use_refuses_jobs_without_starting_workers():
    engine = TurnEngine({}, Committer(), threads=1, max_batch=1)
    engine.close()
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(_submit_after_close(engine))
    assert not any(t.name.startswith("turns_") and t.is_alive() for t in threading.enumerate())


# ---------------------------------------------------------------- a lone session on the loop


def inline_engine(committer: Committer, **settings) -> TurnEngine:
    settings = {"threads": 1, "max_batch": 8, "crowd_recent_s": 60.0, **settings}
    return TurnEngine({"matrix": CountingLearner()}, committer, inline_lone=True, **settings)


def owned_turn(name: str, owner: str, results: dict, order: list[str] | None = None) -> Job:
    """A turn of session ``owner`` whose finish records its thread in ``results``."""

    def finish(row):
        assert row is not None
        return threading.get_ident(), Commit(name, expected_turn=0)  # type: ignore[arg-type]

    def deliver(outcome):
        results[name] = outcome
        if order is not None:
            order.append(name)

    state = CountingLearner().initial_state(SPEC)
    return Job(finish, deliver, (KEY, TurnInput(state, OBS, MASK, None, 0.5)), owner)


def test_a_lone_sessions_turns_run_on_the_event_loop_without_starting_a_worker():
    committer = Committer()
    engine = inline_engine(committer)
    results: dict[str, object] = {}

    async def main():
        loop_thread = threading.get_ident()
        for name in "abc":
            engine.submit(owned_turn(name, "p1", results))
            assert name not in results  # submit returns before the turn ran
            await engine.drain()
            assert name in results
        await settle(engine)
        return loop_thread

    loop_thread = asyncio.run(main())
    assert committer.transactions == [["a"], ["b"], ["c"]]
    assert committer.threads == {threading.current_thread().name}
    for name in "abc":
        finished_on, status = results[name]  # type: ignore[misc]
        assert finished_on == loop_thread and status is CommitStatus.APPLIED
    assert not any(t.name.startswith("turns_") and t.is_alive() for t in threading.enumerate())


def test_sessions_playing_together_go_to_the_worker_and_share_batches():
    committer = Committer(delay_s=0.1)
    engine = inline_engine(committer)
    results: dict[str, object] = {}

    async def main():
        engine.submit(owned_turn("a", "p1", results))
        engine.submit(owned_turn("b", "p2", results))
        await asyncio.sleep(0.03)  # "a" and "b" are being committed
        engine.submit(owned_turn("c", "p1", results))
        engine.submit(owned_turn("d", "p2", results))
        await engine.drain()
        engine.submit(owned_turn("e", "p1", results))  # alone, but a crowd played just now
        await settle(engine)

    asyncio.run(main())
    assert committer.transactions == [["a", "b"], ["c", "d"], ["e"]]
    assert committer.threads == {"turns_0"}


def test_with_inline_lone_off_no_turn_runs_on_the_loop():
    committer = Committer()
    engine = TurnEngine({"matrix": CountingLearner()}, committer, threads=1, max_batch=8)
    results: dict[str, object] = {}

    async def main():
        for name in "ab":
            engine.submit(owned_turn(name, "p1", results))
            await engine.drain()
        await settle(engine)

    asyncio.run(main())
    assert committer.transactions == [["a"], ["b"]]
    assert committer.threads == {"turns_0"}


def test_an_inline_job_that_fails_gets_its_error_and_the_engine_goes_on():
    committer = Committer()
    hooks = {"fail": False}

    def on_commit(n):
        if hooks["fail"]:
            raise RuntimeError("metrics broke")

    engine = inline_engine(committer, on_commit=on_commit)
    results: dict[str, object] = {}
    broken = Job(lambda row: 1 / 0, lambda outcome: results.__setitem__("broken", outcome))

    async def main():
        engine.submit(broken)
        await asyncio.wait_for(engine.drain(), 10)
        committer.fail = True
        engine.submit(commit_only("lost", results, owner="p1"))
        await asyncio.wait_for(engine.drain(), 10)
        committer.fail, hooks["fail"] = False, True
        engine.submit(commit_only("hooked", results, owner="p1"))
        await asyncio.wait_for(engine.drain(), 10)
        hooks["fail"] = False
        engine.submit(commit_only("fine", results, owner="p1"))
        await settle(engine)

    asyncio.run(main())
    assert isinstance(results["broken"], ZeroDivisionError)
    assert isinstance(results["lost"], OSError)
    assert isinstance(results["hooked"], RuntimeError) and "metrics" in str(results["hooked"])
    assert results["fine"] == ("fine", CommitStatus.APPLIED)
    assert committer.transactions == [["fine"]]
    assert committer.threads == {threading.current_thread().name}


def test_a_lone_sessions_job_waits_for_a_running_batch_rather_than_run_beside_it():
    committer = Committer(delay_s=0.1)
    engine = inline_engine(committer)
    results: dict[str, object] = {}

    async def main():
        engine.submit(commit_only("a", results, owner="p1"))
        engine.submit(commit_only("b", results, owner="p1"))  # pending: both to the worker
        await asyncio.sleep(0.03)  # "a" and "b" are being committed
        engine.submit(commit_only("c", results, owner="p1"))
        await asyncio.wait_for(engine.drain(), 10)
        engine.close()

    asyncio.run(main())
    assert committer.transactions == [["a", "b"], ["c"]]
    assert committer.threads == {"turns_0"}


def test_drain_waits_for_a_scheduled_inline_job_and_close_needs_no_workers():
    engine = inline_engine(Committer())
    results: dict[str, object] = {}

    async def main():
        engine.submit(commit_only("a", results, owner="p1"))
        await engine.drain()  # the job was only scheduled when drain began
        delivered = dict(results)
        engine.close()
        return delivered

    assert asyncio.run(main()) == {"a": ("a", CommitStatus.APPLIED)}
    assert engine._pending == 0
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(_submit_after_close(engine))


def test_an_inline_job_still_scheduled_at_close_is_answered_with_an_error():
    committer = Committer()
    engine = inline_engine(committer)
    results: dict[str, object] = {}

    async def main():
        engine.submit(commit_only("a", results, owner="p1"))
        engine.close()  # without drain
        await engine.drain()

    asyncio.run(main())
    assert isinstance(results["a"], RuntimeError) and "closed" in str(results["a"])
    assert committer.transactions == [] and engine._pending == 0


def test_jobs_arriving_before_a_scheduled_inline_job_ran_take_it_to_the_worker_in_order():
    committer = Committer(delay_s=0.05)
    engine = inline_engine(committer)
    results: dict[str, object] = {}
    order: list[str] = []

    async def main():
        engine.submit(owned_turn("a1", "p1", results, order))  # scheduled on the loop
        engine.submit(owned_turn("b1", "p2", results, order))  # company: both to the worker
        engine.submit(owned_turn("a2", "p1", results, order))
        await asyncio.sleep(0.01)  # the scheduled callback has had its turn
        engine.submit(owned_turn("a3", "p1", results, order))
        await settle(engine)
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert committer.transactions == [["a1", "b1", "a2"], ["a3"]]
    assert committer.threads == {"turns_0"}
    assert order == ["a1", "b1", "a2", "a3"]
    assert all(results[name][0] != loop_thread for name in order)  # type: ignore[index]
    assert engine._pending == 0


def test_the_option_defaults_on_and_the_serve_flag_turns_it_off():
    parser = add_serve_arguments(argparse.ArgumentParser())
    assert ServerConfig().inline_lone_turns
    assert config_from_args(parser.parse_args([])).inline_lone_turns
    assert not config_from_args(parser.parse_args(["--no-inline-lone-turns"])).inline_lone_turns
    with pytest.raises(ConfigError, match="inline_lone_turns"):
        ServerConfig(inline_lone_turns="no")  # type: ignore[arg-type]


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "worker"])
def test_a_served_lone_session_acts_where_the_option_says(server_factory, inline):
    class Recording(CountingLearner):
        def act(self, states, obs, masks, **kwargs):
            threads.add(threading.current_thread())
            return super().act(states, obs, masks, **kwargs)

    threads: set[threading.Thread] = set()
    served = server_factory(
        ModelRegistry([counting_model(Recording(("matrix",)))]), inline_lone_turns=inline
    )
    stub = served.stub()
    session = start_session(stub)
    for turn in range(1, 4):
        assert stub.Act(act_request(session, turn)).turn == turn
    [thread] = threads
    assert (thread is served.thread) == inline
    assert inline or thread.name == "turns_0"


def test_a_commit_answered_with_an_exception_fails_only_its_own_job():
    # A store that writes a batch in parts answers a failed part's commits with the error.
    error = OSError("the turn log's disk is full")

    def commit(commits):
        return [error if c.session == "b" else CommitStatus.APPLIED for c in commits]

    engine = TurnEngine({}, commit, threads=1, max_batch=8, window_s=0.1)
    results: dict[str, object] = {}

    async def main():
        for name in "abc":
            engine.submit(commit_only(name, results))
        await settle(engine)

    asyncio.run(main())
    assert results == {
        "a": ("a", CommitStatus.APPLIED),
        "b": error,
        "c": ("c", CommitStatus.APPLIED),
    }
