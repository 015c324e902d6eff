"""Playing whole games of any family against a scripted opponent, through any agent.

:func:`play` runs a family's kernel with a scripted opponent on the other seats
and asks an :class:`Agent` for the agent seat's moves: a :class:`ServedAgent`
(over gRPC) or a :class:`LocalAgent` (the same learner in-process). Played with
the same seeds, the two must produce the same trajectory.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from game_agent.learner import EpisodeOutcome, Learner
from game_agent.sampling import seeded_draw
from games.registry import make_kernel, make_opponent, parse_spec
from protos.game_agent.v1 import agent_pb2 as pb

EPISODES = 2


class Agent:
    """What a game loop needs from the agent: a move per turn, and the end of an episode."""

    act: Callable[[np.ndarray, np.ndarray, float], int]
    end: Callable[[float], None]


class ServedAgent(Agent):
    """The agent's moves asked of a server, one session for the whole game."""

    def __init__(
        self, stub, player: str, game: str, seat: int, greedy: bool = False, seed: int = 0
    ):
        self.stub = stub
        self.session = stub.StartSession(
            pb.StartSessionRequest(
                player_id=player,
                game=game,
                agent_seat=seat,
                options=pb.SessionOptions(greedy=greedy, seed=seed),
            )
        )
        self.turn = self.session.next_turn
        self.probs: list[list[float]] = []

    def act(self, obs: np.ndarray, mask: np.ndarray, reward: float) -> int:
        reply = self.stub.Act(
            pb.ActRequest(
                session_id=self.session.session_id,
                turn=self.turn,
                observation=pb.Tensor(shape=list(obs.shape), values=obs.ravel().tolist()),
                action_mask=mask.tolist(),
                reward=reward,
            )
        )
        assert reply.turn == self.turn and mask[reply.action]
        assert abs(sum(reply.action_probabilities) - 1.0) < 1e-5
        self.probs.append(list(reply.action_probabilities))
        self.turn += 1
        return reply.action

    def end(self, reward: float) -> None:
        request = pb.EndEpisodeRequest(
            session_id=self.session.session_id, turn=self.turn, final_reward=reward
        )
        assert self.stub.EndEpisode(request).turn == self.turn
        self.turn += 1


class LocalAgent(Agent):
    """The same learner driven in-process, exactly as the server drives it; given a
    ``seed``, each turn samples at the draw a session with that seed gets."""

    def __init__(self, learner: Learner, game: str, greedy: bool = False, seed: int | None = None):
        self.learner = learner
        self.greedy = greedy
        self.seed = seed
        self.turn = 1  # a session's first turn
        self.state = learner.initial_state(parse_spec(game))
        self.acted = False
        self.total, self.length = 0.0, 0
        self.probs: list[list[float]] = []

    def act(self, obs: np.ndarray, mask: np.ndarray, reward: float) -> int:
        self.total += reward
        self.length += 1
        if self.acted:
            [self.state] = self.learner.observe([self.state], np.array([reward]), np.array([False]))
        draws = None if self.seed is None else np.array([seeded_draw(self.seed, self.turn)])
        decision, [self.state] = self.learner.act(
            [self.state], obs[None], mask[None], greedy=self.greedy, draws=draws
        )
        self.probs.append(decision.probs[0].tolist())
        self.acted = True
        self.turn += 1
        return int(decision.actions[0])

    def end(self, reward: float) -> None:
        if self.acted:
            [self.state] = self.learner.observe([self.state], np.array([reward]), np.array([True]))
        total = self.total + reward
        outcome = EpisodeOutcome(total, int(np.sign(total)), self.length)
        self.state = self.learner.end_episode(self.state, outcome)
        self.acted, self.total, self.length = False, 0.0, 0
        self.turn += 1


def play(
    agent: Agent,
    game: str,
    style: str,
    seat: int,
    seed: int,
    after_decision: Callable[[int], None] | None = None,
) -> list[tuple[int, float]]:
    """Play EPISODES games; return the agent's (action, reward-before-it) pairs and finals.

    ``after_decision(n)`` is called after the agent's n-th decision (e.g. to kill
    and restart the server in the middle of a game).
    """
    spec = parse_spec(game)
    kernel = make_kernel(spec)
    opponent = make_opponent(spec, style, seed=seed)
    trace: list[tuple[int, float]] = []
    for episode in range(EPISODES):
        step = kernel.reset(1, seed=seed + episode)
        opponent.reset(1)
        pending = 0.0
        while not step.done[0]:
            actions = np.zeros((1, spec.num_agents), dtype=np.int64)
            for other in range(spec.num_agents):
                if other != seat and step.acting[0, other]:
                    actions[:, other] = opponent.act(step.obs[:, other], step.action_mask[:, other])
            if step.acting[0, seat]:
                action = agent.act(step.obs[0, seat], step.action_mask[0, seat], pending)
                trace.append((action, pending))
                actions[0, seat] = action
                pending = 0.0
                if after_decision is not None:
                    after_decision(sum(1 for a, _ in trace if a >= 0))
            step = kernel.step(actions)
            for other in range(spec.num_agents):
                if other != seat:
                    opponent.observe(step.obs[:, other])
            pending += float(step.rewards[0, seat])
        agent.end(pending)
        trace.append((-1, pending))
    return trace
