"""Library values -> protobuf messages (the servicer's outbound half of the translation)."""

from __future__ import annotations

from importlib import metadata

from games.registry import Family
from games.spec import GameSpec, format_value
from protos.game_agent.v1 import agent_pb2 as pb
from server.models import ServedModel
from server.sessions import SessionView
from server.stores.base import ProfileRecord

CAPABILITIES = (
    "streaming",
    "profiles",
    "idempotent_turns",
    "batched_inference",
    "seeded_sampling",
)


def package_version() -> str:
    try:
        return metadata.version("game-agent")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"


def model_info(model: ServedModel) -> pb.ModelInfo:
    return pb.ModelInfo(
        learner=model.learner.name,
        checkpoint=model.checkpoint,
        checkpoint_sha256=model.sha256,
        training_steps=model.training_steps,
        version=model.version,
    )


def variant(spec: GameSpec, split: str = "") -> pb.GameVariant:
    info = spec.info_dict()
    names = info.get("action_names") or info.get("actions") or ()
    return pb.GameVariant(
        spec=spec.name,
        family=spec.family,
        agents=list(spec.agents),
        observation_shape=list(spec.obs_shape),
        observation_dtype=spec.obs_dtype,
        observation_low=spec.obs_low,
        observation_high=spec.obs_high,
        num_actions=spec.num_actions,
        turn_structure=(
            pb.TURN_STRUCTURE_ALTERNATING if spec.turn_based else pb.TURN_STRUCTURE_SIMULTANEOUS
        ),
        action_names=[str(name) for name in names],
        parameters={name: format_value(value) for name, value in spec.params},
        split=split,
    )


def family(fam: Family, model: ServedModel) -> pb.GameFamily:
    parameters = [
        pb.GameParameter(
            name=p.name,
            type=p.kind.__name__,
            default_value=format_value(p.default),
            choices=[format_value(c) for c in p.choices or ()],
            description=p.doc,
        )
        for p in fam.params
    ]
    return pb.GameFamily(
        name=fam.name,
        description=first_paragraph(fam.doc),
        parameters=parameters,
        variants=[variant(spec, model.splits.get(spec.name, "")) for spec in model.variants],
        model=model_info(model),
    )


def first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n", 1)[0].split())


def session(view: SessionView) -> pb.Session:
    record = view.record
    return pb.Session(
        session_id=record.session_id,
        player_id=record.player_id,
        game=variant(view.spec, view.model.splits.get(view.spec.name, "")),
        agent_seat=record.agent_seat,
        next_turn=record.next_turn,
        episodes_played=view.episodes_played,
        returning_player=record.returning_player,
        expires_at_unix_ms=record.expires_ms,
        model=model_info(view.model),
        seed=record.seed,
    )


def profile(record: ProfileRecord) -> pb.PlayerProfile:
    games = [
        pb.GameRecord(
            game=name,
            episodes_played=stats.episodes,
            agent_wins=stats.agent_wins,
            player_wins=stats.player_wins,
            draws=stats.draws,
            recent_agent_reward=(
                sum(stats.recent_rewards) / len(stats.recent_rewards)
                if stats.recent_rewards
                else 0.0
            ),
        )
        for name, stats in sorted(record.games.items())
    ]
    return pb.PlayerProfile(
        player_id=record.player_id,
        episodes_played=record.episodes,
        agent_wins=record.agent_wins,
        player_wins=record.player_wins,
        draws=record.draws,
        skill_rating=record.skill_rating,
        games=games,
        created_at_unix_ms=record.created_ms,
        updated_at_unix_ms=record.updated_ms,
    )
