"""The asyncio SDK against a real server: the same turns, errors, retries and streaming."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from clients import errors
from clients.sdk import AsyncAgentClient, RetryPolicy
from games import parse_spec
from tests.clients.faults import AsyncDropReply
from tests.clients.step_learner import replay

RPS = "matrix(name=rps)"
MASK = np.array([True, True, True, False, False])
OBS = np.zeros(parse_spec(RPS).obs_shape, np.float32)
FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff_s=0.01, max_backoff_s=0.05)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


@pytest.mark.parametrize("streaming", [False, True])
def test_async_session_plays_the_learners_moves(agent_server, streaming):
    async def play():
        async with AsyncAgentClient(agent_server.address, retry=FAST_RETRY) as client:
            assert client.server_info.protocol_version == 1
            assert [f.name for f in await client.list_games("poker")] == ["poker"]
            session = await client.session(f"async-{streaming}", RPS, streaming=streaming)
            async with session:
                turns = [await session.act(OBS, MASK, reward=r) for r in (0.0, 1.0)]
                with pytest.raises(errors.InvalidArgument, match=r"observation\.shape"):
                    await session.act(np.zeros(4, np.float32), MASK)
                ended = await session.end_episode(2.0)
                turns.append(await session.act(OBS, MASK))
                profile = await session.profile()
            return turns, ended, profile

    turns, ended, profile = run(play())
    assert [t.turn for t in turns] == [1, 2, 4] and ended.turn == 3
    script = [("act", MASK, 0.0), ("act", MASK, 1.0), ("end", 2.0), ("act", MASK, 0.0)]
    assert [t.action for t in turns] == replay(RPS, script)
    assert profile.agent_wins == 1 and profile.episodes_played == 1


def test_async_lost_reply_is_retried_and_replayed(agent_server):
    dropper = AsyncDropReply("Act", drop=1)

    async def play():
        client = AsyncAgentClient(agent_server.address, retry=FAST_RETRY, interceptors=[dropper])
        async with client:
            session = await client.session("async-lost", RPS)
            first = await session.act(OBS, MASK)
            second = await session.act(OBS, MASK, reward=-1.0)
            await session.close()
            with pytest.raises(errors.SessionClosedError):
                await session.act(OBS, MASK)
            return first, second

    first, second = run(play())
    [lost] = dropper.dropped
    assert first.replayed and first.turn == lost.turn == 1 and first.action == lost.action
    assert [first.action, second.action] == replay(RPS, [("act", MASK, 0.0), ("act", MASK, -1.0)])


def test_async_errors_are_typed(agent_server):
    async def play():
        async with AsyncAgentClient(agent_server.address) as client:
            with pytest.raises(errors.NotFound):
                await client.resume_session("missing", "someone")
            with pytest.raises(errors.InvalidArgument, match="name=nope"):
                await client.session("someone", "matrix(name=nope)")
            with pytest.raises(errors.InvalidArgument, match=r"seed must be an integer in 0\.\."):
                await client.session("someone", "matrix(name=rps)", seed=-3)

    run(play())
