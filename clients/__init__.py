"""How people and game engines meet the agent: the Python SDK, the opponent protocol, the demos.

- :mod:`clients.sdk` (and :mod:`clients.aio`): ``AgentClient`` / ``AsyncAgentClient``,
  sessions that number turns and retry dropped ones; errors in :mod:`clients.errors`.
- :mod:`clients.opponent`: the ``AdaptiveOpponent`` protocol the demos play against,
  ``ServedOpponent`` (the served agent as a PettingZoo seat) and ``PopulationOpponent``.
- :mod:`clients.demos`: pygame demos of every game family; :mod:`clients.play_cli`
  is ``game-agent play``.

Nothing here imports torch, ``game_agent`` or ``server``: a client needs only
grpc, numpy, the generated stubs and ``games``.
"""

from clients.errors import AgentError
from clients.sdk import AgentClient, AgentSession, AsyncAgentClient, AsyncAgentSession

__all__ = ["AgentClient", "AgentError", "AgentSession", "AsyncAgentClient", "AsyncAgentSession"]
