"""The Node.js example client plays a whole connect_n game against the real server.

The server is the real one on 127.0.0.1 port 0 serving a tiny RL2 checkpoint
from a models directory; the client is ``clients/node/play_connect_n.js`` run
by ``node``, with its stubs loaded from ``protos/`` at run time. Its
dependencies come from ``clients/node/node_modules`` when present, else from
``npm ci`` into a temporary copy (skipped, saying why, when node or npm is
missing or the install cannot reach the registry).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from games import make_kernel, parse_spec
from protos.game_agent.v1 import agent_pb2 as pb
from protos.game_agent.v1 import agent_pb2_grpc as pb_grpc
from tests.clients.conftest import ServerThread, server_config
from tests.clients.tiny_models import VARIANTS, save_tiny_checkpoint

pytestmark = pytest.mark.node

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "clients" / "node"
PROTO = REPO / "protos" / "game_agent" / "v1" / "agent.proto"
GAME = VARIANTS["connect_n"][0]
INSTALL_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def example_dir(tmp_path_factory) -> Path:
    """A directory holding the example and its installed dependencies."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not on PATH; the Node.js example needs node and npm")
    if (EXAMPLE / "node_modules" / "@grpc" / "grpc-js").is_dir():
        return EXAMPLE
    copy = tmp_path_factory.mktemp("node-example")
    for name in ("package.json", "package-lock.json", "connect_n.js", "play_connect_n.js"):
        shutil.copy(EXAMPLE / name, copy / name)
    try:
        install = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=copy,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm ci did not finish in {INSTALL_TIMEOUT_S} s (offline?)")
    if install.returncode != 0:
        pytest.skip(f"npm ci failed (offline?): {install.stderr.strip()[-300:]}")
    return copy


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[ServerThread]:
    root = tmp_path_factory.mktemp("node-serve")
    save_tiny_checkpoint(root / "models" / "rl2-connect_n", "connect_n")
    server = ServerThread(server_config(root), models=None)  # loads the models directory
    yield server
    server.stop()


def run_example(example_dir: Path, address: str, *args: str) -> subprocess.CompletedProcess:
    command = ["node", str(example_dir / "play_connect_n.js"), "--address", address]
    command += ["--proto", str(PROTO), "--game", GAME, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def summary_of(stdout: str) -> dict:
    [line] = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT "))


def requests_answered(server: ServerThread, method: str) -> float:
    sample = server.server.metrics.registry.get_sample_value(
        "game_agent_requests_total", {"method": method, "code": "OK"}
    )
    return sample or 0.0


@pytest.mark.parametrize("agent_seat", ["0", "1"])
def test_the_node_client_plays_a_whole_game(example_dir, served, agent_seat):
    player = f"node-player-{agent_seat}"
    acts_before = requests_answered(served, "Act")
    done = run_example(
        example_dir, served.address, "--player", player, "--agent-seat", agent_seat, "--seed", "3"
    )
    assert done.returncode == 0, done.stderr
    summary = summary_of(done.stdout)
    assert summary["result"] in ("AGENT_WON", "PLAYER_WON", "DRAW")
    assert summary["game"] == parse_spec(GAME).name
    assert summary["agent_seat"] == int(agent_seat)
    # Every move is printed, the agent's with the turn number it was asked on.
    agent_lines = [line for line in done.stdout.splitlines() if ": agent  (" in line]
    player_lines = [line for line in done.stdout.splitlines() if "player (" in line]
    assert len(agent_lines) == summary["agent_moves"] >= 2
    assert len(player_lines) == summary["player_moves"]
    # Seats alternate, seat 0 first: the mover count differs by at most one.
    first, second = (
        (summary["agent_moves"], summary["player_moves"])
        if agent_seat == "0"
        else (summary["player_moves"], summary["agent_moves"])
    )
    assert first - second in (0, 1)
    assert agent_lines[0].startswith("turn 1: ")
    assert summary["turns_used"] == summary["agent_moves"] + 1  # + EndEpisode

    # The server saw the turns and recorded the game under the player's profile.
    assert requests_answered(served, "Act") - acts_before == summary["agent_moves"]
    with grpc.insecure_channel(served.address) as channel:
        profile = pb_grpc.AgentServiceStub(channel).GetProfile(
            pb.GetProfileRequest(player_id=player)
        )
    assert profile.episodes_played == summary["episodes_played"] == 1
    wins = {"AGENT_WON": profile.agent_wins, "PLAYER_WON": profile.player_wins}
    wins["DRAW"] = profile.draws
    assert wins[summary["result"]] == 1
    assert [record.game for record in profile.games] == [parse_spec(GAME).name]


def test_the_node_client_reports_a_refused_game(example_dir, served):
    done = run_example(example_dir, served.address, "--player", "bad id with spaces")
    assert done.returncode == 1
    assert "player_id" in done.stderr and "status 3" in done.stderr  # INVALID_ARGUMENT


REPLAY = """
const { ConnectN } = require(process.argv[1]);
const { variant, moves } = JSON.parse(process.argv[2]);
const game = new ConnectN(variant);
const seen = [];
for (const move of moves) {
  game.play(move);
  seen.push({ obs: [game.observation(0).values, game.observation(1).values],
              mask: game.actionMask(), toMove: game.toMove, over: game.over,
              winner: game.winner });
}
console.log(JSON.stringify(seen));
"""


@pytest.mark.parametrize(
    "game",
    [
        "connect_n(rows=4,cols=5,k=3,gravity=true)",
        "connect_n(rows=3,cols=3,k=3,gravity=false)",
        "connect_n(rows=5,cols=4,k=4,gravity=false)",
    ],
)
def test_the_node_rules_and_observations_match_the_kernel(game):
    """The example computes observations itself; they must be the kernel's, move for move."""
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH")
    spec = parse_spec(game)
    rng = np.random.default_rng(5)
    for _ in range(4):
        kernel = make_kernel(spec)
        step = kernel.reset(1, seed=0)
        moves, steps = [], []
        while not step.done[0]:
            seat = int(np.flatnonzero(step.acting[0])[0])
            move = int(rng.choice(np.flatnonzero(step.action_mask[0, seat])))
            actions = np.zeros((1, 2), dtype=np.int64)
            actions[0, seat] = move
            step = kernel.step(actions)
            moves.append(move)
            steps.append(step)
        variant = {name: spec.param(name) for name in ("rows", "cols", "k", "gravity")}
        payload = json.dumps({"variant": variant, "moves": moves})
        script = str(EXAMPLE / "connect_n.js")
        done = subprocess.run(
            ["node", "-e", REPLAY, script, payload], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        for step, seen in zip(steps, json.loads(done.stdout), strict=True):
            np.testing.assert_array_equal(np.array(seen["obs"]), step.obs[0].reshape(2, -1))
            assert seen["over"] == bool(step.terminated[0])
            if seen["over"]:
                winner = np.flatnonzero(step.rewards[0] > 0)
                assert seen["winner"] == (int(winner[0]) if len(winner) else -1)
                assert not any(seen["mask"])
            else:
                assert step.acting[0, seen["toMove"]]
                assert seen["mask"] == step.action_mask[0, seen["toMove"]].tolist()
