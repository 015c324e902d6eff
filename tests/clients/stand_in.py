"""Stand-in servers for what the real one cannot be made to do: other protocol versions,
and answers carrying a player-action prediction (which no served model produces yet).
"""

from __future__ import annotations

from concurrent import futures

import grpc

from protos.game_agent.v1 import agent_pb2 as pb
from protos.game_agent.v1 import agent_pb2_grpc as pb_grpc

RPS = "matrix(bias=2.0,history=3,name=rps,rounds=50)"


class InfoOnly(pb_grpc.AgentServiceServicer):
    """Answers GetServerInfo as told and records the metadata each call carried."""

    def __init__(self, info: pb.ServerInfo | None = None, refuse: str | None = None):
        self.info = info
        self.refuse = refuse
        self.metadata: list[dict[str, str]] = []

    def GetServerInfo(self, request, context):
        self.metadata.append(dict(context.invocation_metadata()))
        if self.refuse:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, self.refuse)
        return self.info


class Predicting(InfoOnly):
    """A protocol-1 server whose every Act answers paper with a fixed prediction of the player."""

    def __init__(self, prediction: list[float]):
        super().__init__(pb.ServerInfo(protocol_version=1, min_client_protocol_version=1))
        self.prediction = prediction

    def StartSession(self, request, context):
        variant = pb.GameVariant(
            spec=RPS,
            family="matrix",
            agents=["player_0", "player_1"],
            observation_shape=[81],
            num_actions=5,
            turn_structure=pb.TURN_STRUCTURE_SIMULTANEOUS,
            action_names=["rock", "paper", "scissors"],
        )
        return pb.Session(
            session_id="s1",
            player_id=request.player_id,
            game=variant,
            agent_seat=request.agent_seat,
            next_turn=1,
        )

    def Act(self, request, context):
        return pb.ActResponse(
            turn=request.turn,
            action=1,
            action_probabilities=[0.0, 1.0, 0.0, 0.0, 0.0],
            player_action_prediction=self.prediction,
        )


def start(servicer: pb_grpc.AgentServiceServicer) -> tuple[grpc.Server, str]:
    """Serve ``servicer`` on 127.0.0.1 port 0; returns the server and its address."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_AgentServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"
