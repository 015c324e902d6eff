"""The opponent protocol the demos play against, and its served and scripted implementations.

A demo (or any game loop) needs four things from the seat it does not control::

    action = opponent.act(observation, action_mask, reward)   # the agent's move
    opponent.player_moved(action)        # the human's move, for the read of their style
    opponent.end_episode(final_reward)   # the game is over: adapt between episodes
    opponent.insight()                   # {"Your record": "2W 3L 0D ...", ...} for a side panel

:class:`ServedOpponent` asks a game-agent server (``play --server``);
``game_agent.local.LocalOpponent`` runs a learner in-process (``play --local``);
:class:`PopulationOpponent` plays one of the scripted styles of ``games`` (no
model at all). Rewards and results are always from the agent's side.

``ServedOpponent`` in a PettingZoo AEC loop, the agent on seat 1::

    with AgentClient("localhost:50051") as client, ServedOpponent(client, "alice", spec) as agent:
        env = games.make(spec)
        env.reset()
        for name in env.agent_iter():
            if name == agent.agent:
                action = agent.act_aec(env)      # ends the episode itself at game over
            else:
                obs, _, terminated, truncated, _ = env.last()
                action = None if terminated or truncated else my_policy(obs)
            env.step(action)

and in a parallel loop, ``agent.act(obs[agent.agent], reward=rewards[agent.agent])``
each step, then ``agent.end_episode(rewards[agent.agent])`` once ``env.agents`` is empty.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from clients.insight import GameFacts, PlayerInsight, Record
from clients.sdk import AgentClient
from clients.types import PlayerProfile, TurnResult, split_observation
from games import GameSpec, make_opponent, parse_spec


@runtime_checkable
class AdaptiveOpponent(Protocol):
    """An agent on the other seat that adapts to the player and says what it has learned."""

    def act(self, observation: Any, action_mask: Any = None, reward: float = 0.0) -> int:
        """The agent's move; ``reward`` is what it received since its previous move."""
        ...

    def player_moved(self, action: int) -> None:
        """The player (the human's seat) made ``action``."""
        ...

    def end_episode(self, final_reward: float = 0.0, result: int | None = None) -> None:
        """The episode ended; ``result`` +1 agent won, -1 player won, 0 draw, None: by reward."""
        ...

    def insight(self) -> dict[str, str]:
        """What the agent has learned about the player, label to text, in display order."""
        ...


def agent_result(total_reward: float, result: int | None) -> int:
    """The episode's result from the agent's side: ``result`` if given, else the reward's sign."""
    if result is not None:
        return int(np.sign(result))
    return int(np.sign(total_reward))


class ServedOpponent:
    """The served agent as an :class:`AdaptiveOpponent`, over one SDK session."""

    def __init__(
        self,
        client: AgentClient,
        player_id: str,
        game: GameSpec | str,
        seat: int = 1,
        *,
        streaming: bool = False,
        greedy: bool = False,
        seed: int = 0,
    ):
        self.session = client.session(
            player_id, game, seat, streaming=streaming, greedy=greedy, seed=seed
        )
        variant = self.session.info.game
        self.seat = seat
        self.agent = variant.agents[seat]
        """The PettingZoo agent id of the agent's seat."""
        self.game = variant.spec
        """The canonical spec string the server plays."""
        self.facts = GameFacts.from_variant(variant.spec, variant.num_actions, variant.action_names)
        self.last_turn: TurnResult | None = None
        self.profile: PlayerProfile | None = None
        self._insight = PlayerInsight(self.facts)
        self._episode_reward = 0.0

    def act(self, observation: Any, action_mask: Any = None, reward: float = 0.0) -> int:
        self.last_turn = self.session.act(observation, action_mask, reward)
        self._episode_reward += reward
        self._insight.record_prediction(self.last_turn.player_action_prediction)
        return self.last_turn.action

    def player_moved(self, action: int) -> None:
        self._insight.record_move(action)

    def end_episode(self, final_reward: float = 0.0, result: int | None = None) -> None:
        self._episode_reward += final_reward
        outcome = agent_result(self._episode_reward, result)
        ended = self.session.end_episode(final_reward, outcome)
        self._episode_reward = 0.0
        self.profile = ended.profile
        game = next((g for g in ended.profile.games if g.game == self.game), None)
        if game is None:
            self._insight.record_result(outcome)
        else:
            record = Record(game.player_wins, game.agent_wins, game.draws)
            self._insight.set_record(record, ended.profile.skill_rating)

    def insight(self) -> dict[str, str]:
        return self._insight.lines()

    def act_aec(self, env: Any) -> int | None:
        """In an AEC loop on the agent's turn: its move, or None (episode ended) at game over."""
        observation, reward, terminated, truncated, _ = env.last()
        if terminated or truncated:
            self.end_episode(float(reward))
            return None
        return self.act(observation, reward=float(reward))

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> ServedOpponent:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class PopulationOpponent:
    """A scripted style from ``games`` (e.g. connect_n's ``centre``) as an AdaptiveOpponent.

    It does not adapt; it lets the demos run with no model, and gives tests a
    fixed, known opponent. The insight still reads the player's style.
    """

    def __init__(self, spec: GameSpec | str, style: str, seed: int | None = None):
        self.spec = parse_spec(spec)
        self.style = make_opponent(self.spec, style, seed=seed)
        self.style.reset(1)
        self._insight = PlayerInsight(GameFacts.from_spec(self.spec))
        self._episode_reward = 0.0

    def act(self, observation: Any, action_mask: Any = None, reward: float = 0.0) -> int:
        obs, mask = split_observation(observation, action_mask)
        self._episode_reward += reward
        return int(self.style.act(obs[None], mask[None])[0])

    def player_moved(self, action: int) -> None:
        self._insight.record_move(action)

    def end_episode(self, final_reward: float = 0.0, result: int | None = None) -> None:
        self._insight.record_result(agent_result(self._episode_reward + final_reward, result))
        self._episode_reward = 0.0
        self.style.reset_where(np.ones(1, dtype=bool))

    def insight(self) -> dict[str, str]:
        lines = {"Opponent": f"scripted style {self.style.name!r} (does not adapt)"}
        lines.update(self._insight.lines())
        return lines
