"""Load: 256 concurrent sessions play whole games; no errors, no leaked sessions, bounded memory.

The server is a real ``python -m server`` process serving a tiny RL2 checkpoint
(``rl2_models_dir``). The client is the asyncio SDK (``clients.aio``) without
retries, so any failed call is an error here: 256 players each start a session,
play a whole 10-round match of rock-paper-scissors against a scripted opponent
stepped by the game's own kernel, end the episode and end the session. After a
round the server's live-session gauge must be back to 0. The same players then
play an identical second round; the server's resident memory after it must be
within a tolerance of what it was after the first (the first round pays for
one-time allocations: the second must not add per-session memory that stays).
"""

from __future__ import annotations

import asyncio
import time
import urllib.request

import numpy as np
import pytest

from clients.aio import AsyncAgentClient
from clients.retry import RetryPolicy
from games.registry import make_kernel, make_opponent, parse_spec
from server.logs import serving_fields
from tests.server.conftest import RL2_VARIANTS
from tests.server.processes import ServerProcess

pytestmark = pytest.mark.slow

SESSIONS = 256
GAME = RL2_VARIANTS[0]
ROUND_TIMEOUT_S = 150.0
RSS_TOLERANCE = 0.05
"""RSS after the second round may exceed RSS after the first by at most this fraction
(about 17 MiB here; holding 256 sessions' state costs about 2 MiB, a round's transient
allocations a few MiB more)."""


def metrics_port(server: ServerProcess) -> int:
    for line in server.lines:
        serving = serving_fields(line)
        if serving is not None:
            return int(serving["metrics_port"])
    raise AssertionError("the server logged no metrics port")


def live_sessions(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith("game_agent_live_sessions "):
                return int(float(line.split()[1]))
    raise AssertionError("no game_agent_live_sessions gauge")


def rss(server: ServerProcess) -> int:
    with open(f"/proc/{server.process.pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def play_one(client: AsyncAgentClient, player: int) -> int:
    """One player's whole match (seat 1 is the agent's, seat 0 a scripted opponent);
    returns the number of turns played."""
    spec = parse_spec(GAME)
    kernel = make_kernel(spec)
    opponent = make_opponent(spec, "copy_last", seed=player)
    session = await client.session(f"load-{player}", GAME, seat=1)
    step = kernel.reset(1, seed=player)
    opponent.reset(1)
    pending, turns = 0.0, 0
    while not step.done[0]:
        actions = np.zeros((1, spec.num_agents), dtype=np.int64)
        actions[:, 0] = opponent.act(step.obs[:, 0], step.action_mask[:, 0])
        turn = await session.act(step.obs[0, 1], step.action_mask[0, 1], reward=pending)
        actions[0, 1] = turn.action
        step = kernel.step(actions)
        opponent.observe(step.obs[:, 0])
        pending = float(step.rewards[0, 1])
        turns += 1
    await session.end_episode(final_reward=pending)
    await session.close()
    return turns


async def play_round(target: str) -> tuple[int, list[BaseException]]:
    """Every player at once; returns the turns played and the errors raised."""
    client = AsyncAgentClient(target, timeout_s=60, retry=RetryPolicy(max_attempts=1))
    await client.connect()
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(play_one(client, p) for p in range(SESSIONS)), return_exceptions=True),
            ROUND_TIMEOUT_S,
        )
    finally:
        await client.close()
    errors = [r for r in results if isinstance(r, BaseException)]
    return sum(r for r in results if isinstance(r, int)), errors


def test_256_players_twice_no_errors_no_leaks_bounded_memory(rl2_models_dir, tmp_path):
    server = ServerProcess(
        "server",
        *("--models", str(rl2_models_dir), "--data", str(tmp_path)),
        *("--address", "127.0.0.1:0", "--metrics-port", "0"),
    )
    port = metrics_port(server)
    after = [rss(server)]
    try:
        for _ in range(2):
            started = time.perf_counter()
            turns, errors = asyncio.run(play_round(f"127.0.0.1:{server.port}"))
            elapsed = time.perf_counter() - started
            assert errors == [], errors[:3]
            assert turns == SESSIONS * parse_spec(GAME).max_steps
            assert live_sessions(port) == 0
            after.append(rss(server))
            mib = [value >> 20 for value in after[-2:]]
            print(f"\n{turns} turns in {elapsed:.1f} s; server RSS {mib[0]} -> {mib[1]} MiB")
        first, second = after[1:]
        assert second <= first * (1 + RSS_TOLERANCE), after
    finally:
        assert server.terminate() == 0
