"""Exact best responses to the matrix styles that can be solved, and equilibrium values.

A style whose next move depends only on the last round (the fixed mixtures,
``nash``, ``copy_last``, ``beat_last``, ``wsls``, ``win_shift``, ``cycle_up``,
``second_order``, ``adv_last_br2``) turns the match into a finite-horizon
Markov decision process whose state is the last round's pair of actions.
Backward induction over rounds gives the optimal expected total reward and a
policy table (round, my last action, its last action) -> action.

The styles are modelled here a second time, from their descriptions, as
transition tables; the tests check these models against the batched
opponents actually playing, so the two implementations guard each other.
Styles with longer memory (frequency counters, ``switching``, ``cycle_double``,
``echo2``, ``adv_freq_br``, ``adv_reverse_cycle``) get ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from games.errors import UnknownOpponentError
from games.matrix.equilibrium import TOLERANCE, solve_zero_sum, stage_equilibrium
from games.matrix.payoffs import NUM_ACTIONS, ObsLayout, StageGame, stage_game
from games.registry import list_opponents, parse_spec
from games.spec import GameSpec


class ReactiveModel(NamedTuple):
    """An opponent whose move depends at most on the previous round."""

    first: np.ndarray
    """(n,) its move distribution in round 1."""
    next: np.ndarray
    """(n, n, n): ``next[my_prev, its_prev, its_move]`` probabilities from round 2 on."""


class BestResponsePolicy:
    """The optimal policy table, playable from observations like any opponent.

    ``actions[r, my_prev, its_prev]`` is the move in round r+1 (0-based r),
    given the previous round; row r = 0 holds the first move everywhere.
    """

    def __init__(self, spec: GameSpec, actions: np.ndarray):
        self.spec = spec
        self.actions = actions
        self.layout = ObsLayout(int(spec.param("history")))
        self.rounds = int(spec.param("rounds"))

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(B,) the best-response move for observations (B, obs) and masks (B, 5)."""
        obs = np.asarray(obs, dtype=np.float32)
        t = np.clip(self.layout.rounds_played(obs, self.rounds), 0, self.rounds - 1)
        last = np.clip(self.layout.recent_rounds(obs)[:, 0, :], 0, None)
        moves = self.actions[t, last[:, 0], last[:, 1]]
        return np.where(np.asarray(mask, dtype=bool).any(axis=-1), moves, 0).astype(np.int64)


class BestResponse(NamedTuple):
    value: float
    """Expected total reward of the best response over one match."""
    policy: BestResponsePolicy

    @property
    def per_round(self) -> float:
        return self.value / self.policy.rounds


def _reply(payoff: np.ndarray, belief: np.ndarray) -> np.ndarray:
    """(n,) uniform over the maximisers of ``payoff @ belief`` (how the styles break ties)."""
    values = payoff @ belief
    best = values >= values.max() - TOLERANCE
    return best / best.sum()


def _reply_table(payoff: np.ndarray) -> np.ndarray:
    """(n, n): row x is the best-reply distribution against the pure move x."""
    n = len(payoff)
    return np.stack([_reply(payoff, np.eye(n)[x]) for x in range(n)])


def _stationary(probs: np.ndarray) -> ReactiveModel:
    n = len(probs)
    return ReactiveModel(probs, np.broadcast_to(probs, (n, n, n)).copy())


def _deterministic(n: int, move: Callable[[int, int], int]) -> ReactiveModel:
    table = np.zeros((n, n, n))
    for mine in range(n):
        for its in range(n):
            table[mine, its, move(mine, its)] = 1.0
    return ReactiveModel(np.full(n, 1.0 / n), table)


def _heavy(target: int, weight: float) -> Callable[[np.ndarray, np.ndarray], ReactiveModel]:
    """Action ``target`` (from the end if negative) with ``weight``, the rest evenly."""

    def model(agent: np.ndarray, opponent: np.ndarray) -> ReactiveModel:
        n = len(agent)
        probs = np.full(n, (1.0 - weight) / (n - 1))
        probs[target if target >= 0 else n + target] = weight
        return _stationary(probs)

    return model


def _nash(agent: np.ndarray, opponent: np.ndarray) -> ReactiveModel:
    n = len(agent)
    return _stationary(stage_equilibrium(opponent, agent, n)[:n])


def _shift(stay_when_good: bool) -> Callable[[np.ndarray, np.ndarray], ReactiveModel]:
    def model(agent: np.ndarray, opponent: np.ndarray) -> ReactiveModel:
        n = len(agent)
        mean = opponent.mean()

        def move(mine: int, its: int) -> int:
            good = opponent[its, mine] > mean + TOLERANCE
            return its if good == stay_when_good else (its + 1) % n

        return _deterministic(n, move)

    return model


def _composed(agent: np.ndarray, opponent: np.ndarray, on_mine: bool) -> ReactiveModel:
    """It expects me to best-respond to a move (my last, or its last) and best-responds to that."""
    n = len(agent)
    expected = _reply_table(agent)
    counter = expected @ _reply_table(opponent)
    table = np.zeros((n, n, n))
    for mine in range(n):
        for its in range(n):
            table[mine, its] = counter[mine if on_mine else its]
    return ReactiveModel(np.full(n, 1.0 / n), table)


def _beat_last(agent: np.ndarray, opponent: np.ndarray) -> ReactiveModel:
    n = len(agent)
    replies = _reply_table(opponent)
    table = np.broadcast_to(replies[:, None, :], (n, n, n)).copy()
    return ReactiveModel(np.full(n, 1.0 / n), table)


MODELS: dict[str, Callable[[np.ndarray, np.ndarray], ReactiveModel]] = {
    "nash": _nash,
    "rock_heavy": _heavy(0, 0.6),
    "paper_heavy": _heavy(1, 0.6),
    "last_heavy": _heavy(-1, 0.75),
    "copy_last": lambda a, o: _deterministic(len(a), lambda mine, its: mine),
    "beat_last": _beat_last,
    "cycle_up": lambda a, o: _deterministic(len(a), lambda mine, its: (its + 1) % len(a)),
    "wsls": _shift(stay_when_good=True),
    "win_shift": _shift(stay_when_good=False),
    "second_order": lambda a, o: _composed(a, o, on_mine=True),
    "adv_last_br2": lambda a, o: _composed(a, o, on_mine=False),
}
"""Transition models of every style whose memory is the last round, by style name."""


def _seat_matrices(game: StageGame, seat: int) -> tuple[np.ndarray, np.ndarray]:
    n = game.num_legal
    agent = game.payoffs[seat, :n, :n].astype(np.float64)
    opponent = game.payoffs[1 - seat, :n, :n].astype(np.float64)
    return agent, opponent


def solve_reactive(spec: GameSpec, model: ReactiveModel, seat: int = 0) -> BestResponse:
    """Backward induction over rounds against ``model``; the agent sits in ``seat``."""
    game = stage_game(spec.param("name"), spec.param("bias"))
    agent, _ = _seat_matrices(game, seat)
    n, rounds = game.num_legal, int(spec.param("rounds"))
    actions = np.zeros((rounds, NUM_ACTIONS, NUM_ACTIONS), dtype=np.int64)
    future = np.zeros((n, n))  # expected reward still to come, by the round just played
    for r in range(rounds - 1, 0, -1):
        q = np.einsum("mio,ao->mia", model.next, agent + future)
        actions[r, :n, :n] = q.argmax(axis=-1)
        future = q.max(axis=-1)
    first = (agent + future) @ model.first
    actions[0] = int(first.argmax())
    return BestResponse(float(first.max()), BestResponsePolicy(spec, actions))


def mixture_best_response(spec: str | GameSpec, mixture: np.ndarray, seat: int = 0) -> BestResponse:
    """Best response to an opponent playing the fixed ``mixture`` (n,) every round."""
    spec = parse_spec(spec)
    probs = np.asarray(mixture, dtype=np.float64)
    return solve_reactive(spec, _stationary(probs / probs.sum()), seat)


def best_response_value(
    spec: str | GameSpec, opponent_name: str, seat: int = 0
) -> BestResponse | None:
    """(value per match, policy) of the exact best response to a style; None if not solvable.

    Raises :class:`~games.errors.UnknownOpponentError` for a name the family lacks.
    """
    spec = parse_spec(spec)
    known = list_opponents(spec.family)
    if opponent_name not in known:
        raise UnknownOpponentError(
            f"{spec.family} has no opponent {opponent_name!r}; known: {', '.join(known)}"
        )
    if opponent_name not in MODELS:
        return None
    game = stage_game(spec.param("name"), spec.param("bias"))
    model = MODELS[opponent_name](*_seat_matrices(game, seat))
    return solve_reactive(spec, model, seat)


def equilibrium_value(spec: str | GameSpec, seat: int = 0) -> float | None:
    """Nash value per round of a zero-sum variant for ``seat``; None for general-sum games."""
    spec = parse_spec(spec)
    game = stage_game(spec.param("name"), spec.param("bias"))
    if not game.zero_sum:
        return None
    agent, _ = _seat_matrices(game, seat)
    return solve_zero_sum(agent).value


def equilibrium_payoff(spec: str | GameSpec, seat: int = 0) -> float:
    """Expected payoff per round to ``seat`` when both seats play the ``nash`` style's mixture.

    Equals :func:`equilibrium_value` in zero-sum games; in the symmetric
    general-sum games it is the payoff of their most mixed symmetric equilibrium
    (mutual defection in the prisoner's dilemma).
    """
    spec = parse_spec(spec)
    game = stage_game(spec.param("name"), spec.param("bias"))
    agent, opponent = _seat_matrices(game, seat)
    n = game.num_legal
    mine = stage_equilibrium(agent, opponent, n)[:n]
    theirs = stage_equilibrium(opponent, agent, n)[:n]
    return float(mine @ agent @ theirs)
