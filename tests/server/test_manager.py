"""SessionManager directly (no gRPC): write conflicts, hung-up clients, the expiry loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import pytest

from game_agent.sampling import seeded_draw
from game_agent.state import AdaptationState
from games.registry import parse_spec
from server.errors import Aborted
from server.models import ModelRegistry
from server.sessions import SessionManager
from server.stores.base import Commit, CommitStatus
from server.stores.sqlite import SqliteStore
from server.validation import SessionSettings
from tests.server.conftest import MATRIX, CountingLearner, counting_model, make_config

SPEC = parse_spec(MATRIX)
OBS = np.zeros(SPEC.obs_shape, np.float32)
MASK = np.array([True, True, True, False, False])
SETTINGS = SessionSettings(greedy=False, seed=0, idle_timeout_s=60.0, ignore_profile=False)


class ConflictingStore(SqliteStore):
    """Answers CONFLICT to the next ``conflicts`` commits, as if another replica won."""

    conflicts = 0

    def commit(self, commits: Sequence[Commit]) -> list[CommitStatus]:
        if self.conflicts:
            self.conflicts -= 1
            return [CommitStatus.CONFLICT for _ in commits]
        return super().commit(commits)


def manager(tmp_path, learner=None, store=None, **overrides) -> SessionManager:
    config = make_config(tmp_path, **overrides)
    store = store or SqliteStore(config.sqlite_path, sync_commits=False)
    models = ModelRegistry([counting_model(learner or CountingLearner())])
    return SessionManager(config, models, store)


def test_a_lost_compare_and_set_is_aborted_and_the_retry_succeeds(tmp_path):
    store = ConflictingStore(tmp_path / "s.sqlite3", sync_commits=False)

    async def main():
        sessions = manager(tmp_path, store=store)
        await sessions.start()
        view = await sessions.start_session("", "p", SPEC, 0, SETTINGS)
        sid = view.record.session_id
        store.conflicts = 1
        with pytest.raises(Aborted, match="retry"):
            await sessions.act("", sid, 1, OBS, MASK, 0.0)
        # Nothing was written, so the same turn goes through on retry.
        result = await sessions.act("", sid, 1, OBS, MASK, 0.0)
        await sessions.close()
        return result

    result = asyncio.run(main())
    assert result.turn == 1 and not result.replayed


@pytest.mark.parametrize("pause_s", [0.5, 0.0])
def test_a_turn_completes_and_commits_when_the_client_hangs_up(tmp_path, pause_s):
    # Without a pause the retry arrives while the abandoned turn is still computing: the
    # session stays locked until the engine delivered it, so the retry is answered from
    # the committed reply instead of racing the commit.
    learner = CountingLearner(act_delay_s=0.3)

    async def main():
        sessions = manager(tmp_path, learner=learner, inline_lone_turns=False)
        await sessions.start()
        view = await sessions.start_session("", "p", SPEC, 0, SETTINGS)
        sid = view.record.session_id
        call = asyncio.ensure_future(sessions.act("", sid, 1, OBS, MASK, 0.0))
        await asyncio.sleep(0.1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await asyncio.sleep(pause_s)
        retry = await sessions.act("", sid, 1, OBS, MASK, 0.0)
        following = await sessions.act("", sid, 2, OBS, MASK, 1.0)
        await sessions.close()
        return retry, following

    retry, following = asyncio.run(main())
    assert retry.replayed and retry.turn == 1
    assert not following.replayed and following.turn == 2
    assert learner.act_batches == [1, 1]


def test_the_background_sweep_expires_idle_sessions(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite3", sync_commits=False)

    async def main():
        sessions = manager(tmp_path, store=store, idle_timeout_s=0.1, expiry_sweep_s=0.05)
        await sessions.start()
        settings = SessionSettings(False, 0, 0.1, False)
        view = await sessions.start_session("", "p", SPEC, 0, settings)
        await asyncio.sleep(0.4)
        ended = store.load_session(view.record.session_id).ended
        await sessions.close()
        return ended

    assert asyncio.run(main())


class BookkeepingLearner(CountingLearner):
    """Declares its end_episode cheap, so the server runs it with the episode's end."""

    cheap_end_episode = True


@pytest.mark.parametrize("cheap", [True, False])
def test_an_episode_end_stores_the_adapted_state_now_or_after_the_reply(tmp_path, cheap):
    learner = BookkeepingLearner() if cheap else CountingLearner(adapt_delay_s=0.3)
    store = SqliteStore(tmp_path / "s.sqlite3")

    async def main():
        sessions = manager(tmp_path, learner=learner, store=store)
        await sessions.start()
        view = await sessions.start_session("", "p", SPEC, 0, SETTINGS)
        sid = view.record.session_id
        await sessions.act("", sid, 1, OBS, MASK, 0.0)
        end = await sessions.end_episode("", sid, 2, 1.0, None)
        at_reply = (store.load_session(sid).pending_outcome, store.load_adaptation("p", SPEC.name))
        following = await sessions.act("", sid, 3, OBS, MASK, 0.0)  # waits for adaptation
        final = store.load_adaptation("p", SPEC.name)
        await sessions.close()
        return end, at_reply, following, final

    end, (pending, adaptation), following, final = asyncio.run(main())
    assert not end.replayed and end.profile.agent_wins == 1
    assert learner.adaptations == 1
    if cheap:  # adapted, profiled and stored in the episode's own transaction
        assert pending == "" and adaptation is not None
        assert AdaptationState.from_bytes(adaptation.state).arrays["counts"][2] == 1
    else:  # the reply came first; the adaptation followed
        assert pending and adaptation is None
    stored = AdaptationState.from_bytes(final.state)
    assert stored.arrays["counts"].tolist() == [1, 0, 1, 1]
    # The next turn acted on the adapted state: (turns 1 + 3 * episodes 1 + reward 1) % 3.
    assert following.action == (1 + 3 + 1) % 3


def test_learners_say_whether_their_end_episode_is_cheap():
    from game_agent.learner import has_cheap_end_episode
    from game_agent.learners.maml import MAMLLearner
    from game_agent.learners.rl2 import RL2Learner
    from game_agent.learners.safe import SafeLearner

    assert has_cheap_end_episode(RL2Learner.__new__(RL2Learner))
    assert not has_cheap_end_episode(MAMLLearner.__new__(MAMLLearner))
    assert not has_cheap_end_episode(CountingLearner())  # unknown: keep it off the turn path
    # The safety wrapper's own bookkeeping is cheap: it follows its base.
    assert has_cheap_end_episode(SafeLearner(BookkeepingLearner()))
    assert not has_cheap_end_episode(SafeLearner(CountingLearner()))


@pytest.mark.parametrize("seed", [0, 12345, 2**64 - 1])
def test_each_turn_samples_at_the_draw_of_its_session_seed_and_turn(tmp_path, seed):
    """The engine hands the learner ``seeded_draw(seed, turn)`` for every turn; an unset
    seed (0) gets one drawn by the server, kept in the session's record."""
    learner = CountingLearner()
    settings = SessionSettings(greedy=False, seed=seed, idle_timeout_s=60.0, ignore_profile=False)

    async def main():
        sessions = manager(tmp_path, learner=learner)
        await sessions.start()
        views = [await sessions.start_session("", f"p{i}", SPEC, 0, settings) for i in range(2)]
        for turn in (1, 2, 3):
            for view in views:
                await sessions.act("", view.record.session_id, turn, OBS, MASK, 0.0)
        await sessions.close()
        return [view.record.seed for view in views]

    seeds = asyncio.run(main())
    if seed:
        assert seeds == [seed, seed]
    else:
        assert seeds[0] != seeds[1] and min(seeds) > 0
    want = [seeded_draw(s, turn) for turn in (1, 2, 3) for s in seeds]
    assert learner.draws == want


class RecordingStore(SqliteStore):
    """Keeps every commit it was given."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.commits: list[Commit] = []

    def commit(self, commits: Sequence[Commit]) -> list[CommitStatus]:
        self.commits += commits
        return super().commit(commits)


def test_turns_keep_the_stored_expiry_within_a_step_and_never_shorten_it(tmp_path):
    # Expiries are rounded up to a second (a 900 s timeout): turns within one second keep
    # the stored expiry and say so; a turn in the next second moves it; none lands before
    # the idle timeout from the turn.
    store = RecordingStore(tmp_path / "s.sqlite3", sync_commits=False)
    now = [1_000.2501]
    config = make_config(tmp_path)
    models = ModelRegistry([counting_model(CountingLearner())])

    async def main():
        sessions = SessionManager(config, models, store, clock=lambda: now[0])
        await sessions.start()
        settings = SessionSettings(greedy=False, seed=0, idle_timeout_s=900.0, ignore_profile=False)
        view = await sessions.start_session("", "p", SPEC, 0, settings)
        sid = view.record.session_id
        for turn, at in enumerate([1_000.3, 1_000.9, 1_001.05, 1_001.1], start=1):
            now[0] = at
            await sessions.act("", sid, turn, OBS, MASK, 0.0)
        now[0] = 1_001.2
        await sessions.end_episode("", sid, 5, 1.0, None)
        await sessions.close()
        return sid

    sid = asyncio.run(main())
    turns = [c for c in store.commits if c.session.next_turn > 1]
    expiries = [1_901_000, 1_901_000, 1_902_000, 1_902_000, 1_902_000, 1_902_000]
    assert [c.session.expires_ms for c in turns] == expiries
    # Four turns, the episode's end, then its adaptation (which never moves the expiry).
    assert [c.expiry_changed for c in turns] == [True, False, True, False, False, False]
    assert turns[-1].adaptation is not None
    reopened = SqliteStore(tmp_path / "s.sqlite3", sync_commits=False)
    assert reopened.load_session(sid).expires_ms == 1_902_000
    reopened.close()
