"""API keys, ownership of sessions and players, the keys-file format, and TLS."""

from __future__ import annotations

import datetime
import importlib.util
import shutil
import subprocess
from pathlib import Path

import grpc
import pytest

from game_agent.errors import ConfigError
from protos.game_agent.v1 import agent_pb2 as pb
from protos.game_agent.v1 import agent_pb2_grpc as pb_grpc
from server.auth import ApiKeys
from tests.server.conftest import MATRIX, act_request, start_session

KEY_A = "key-a-0123456789abcdef"
KEY_A2 = "key-a2-0123456789abcdef"
KEY_B = "key-b-0123456789abcdef"
RPS_MASK = [True, True, True, False, False]


def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "api_keys"
    path.write_text(
        "# KEY PRINCIPAL\n"
        f"{KEY_A}   studio-a\n"
        f"{KEY_A2}  studio-a   # rotated key of the same principal\n"
        "\n"
        f"{KEY_B}\tstudio-b\n"
    )
    return path


class Keyed:
    """A stub that sends one API key with every call."""

    def __init__(self, stub: pb_grpc.AgentServiceStub, key: str | None):
        self._stub, self._metadata = stub, [("x-api-key", key)] if key else []

    def __getattr__(self, name: str):
        method = getattr(self._stub, name)
        return lambda request, **kw: method(request, metadata=self._metadata, **kw)


@pytest.fixture
def secured(server_factory, tmp_path):
    return server_factory(api_keys_file=keys_file(tmp_path))


def test_calls_without_or_with_a_wrong_key_are_unauthenticated(secured):
    stub = secured.stub()
    for key in (None, "not-a-key-at-all-xxxx"):
        for call, request in (
            (Keyed(stub, key).ListGames, pb.ListGamesRequest()),
            (Keyed(stub, key).StartSession, pb.StartSessionRequest(player_id="p", game=MATRIX)),
        ):
            with pytest.raises(grpc.RpcError) as err:
                call(request)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "x-api-key" in err.value.details()
    info = Keyed(stub, KEY_A).GetServerInfo(pb.GetServerInfoRequest())
    assert info.requires_api_key


def test_the_play_stream_is_closed_without_a_key(secured):
    stub = secured.stub()
    with pytest.raises(grpc.RpcError) as err:
        list(stub.Play(iter([pb.PlayRequest(act=pb.ActRequest(session_id="s_x", turn=1))])))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_sessions_and_players_belong_to_their_principal(secured):
    stub = secured.stub()
    a, a2, b = Keyed(stub, KEY_A), Keyed(stub, KEY_A2), Keyed(stub, KEY_B)
    session = start_session(a, player="alice")
    a.Act(act_request(session, 1, mask=RPS_MASK))
    denied = [
        lambda: b.Act(act_request(session, 2, mask=RPS_MASK)),
        lambda: b.EndEpisode(pb.EndEpisodeRequest(session_id=session.session_id, turn=2)),
        lambda: b.ResumeSession(
            pb.ResumeSessionRequest(session_id=session.session_id, player_id="alice")
        ),
        lambda: b.EndSession(pb.EndSessionRequest(session_id=session.session_id)),
        lambda: b.GetProfile(pb.GetProfileRequest(player_id="alice")),
        lambda: b.DeleteProfile(pb.DeleteProfileRequest(player_id="alice")),
        lambda: start_session(b, player="alice"),
    ]
    for call in denied:
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, err.value.details()
    # Another key of the same principal may drive it.
    assert a2.Act(act_request(session, 2, mask=RPS_MASK)).turn == 2
    assert a2.GetProfile(pb.GetProfileRequest(player_id="alice")).player_id == "alice"


def test_health_and_reflection_need_no_key(secured):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    health = health_pb2_grpc.HealthStub(secured.channel())
    reply = health.Check(health_pb2.HealthCheckRequest(service=""))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("", "lists no keys"),
        ("# only a comment\n", "lists no keys"),
        ("shortkey studio\n", "at least 16 characters"),
        (f"{KEY_A}\n", "expected 'KEY PRINCIPAL'"),
        (f"{KEY_A} studio a\n", "got 3 fields"),
        (f"{KEY_A} bad/principal\n", "principal 'bad/principal'"),
        (f"{KEY_A} x\n{KEY_A} y\n", "listed twice"),
    ],
)
def test_keys_file_errors_name_the_line(tmp_path, content, fragment):
    path = tmp_path / "keys"
    path.write_text(content)
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        ApiKeys.from_file(path)


def test_a_missing_keys_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the API keys file"):
        ApiKeys.from_file(tmp_path / "absent")


def test_keys_resolve_to_principals(tmp_path):
    keys = ApiKeys.from_file(keys_file(tmp_path))
    assert keys.principal(KEY_A) == keys.principal(KEY_A2) == "studio-a"
    assert keys.principal(KEY_B) == "studio-b"


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _self_signed_with_openssl(tmp_path: Path) -> tuple[Path, Path]:
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(key_path), "-out", str(cert_path),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert_path, key_path


HAS_CRYPTOGRAPHY = importlib.util.find_spec("cryptography") is not None


@pytest.mark.skipif(
    not HAS_CRYPTOGRAPHY and shutil.which("openssl") is None,
    reason="TLS test needs the 'cryptography' package (or the openssl command) to make a "
    "self-signed certificate; neither is available here",
)
def test_tls(server_factory, tmp_path):
    cert, key = (_self_signed if HAS_CRYPTOGRAPHY else _self_signed_with_openssl)(tmp_path)
    served = server_factory(tls_cert=cert, tls_key=key)
    credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    channel = grpc.secure_channel(
        served.target, credentials, options=[("grpc.ssl_target_name_override", "localhost")]
    )
    served.channels.append(channel)
    info = pb_grpc.AgentServiceStub(channel).GetServerInfo(pb.GetServerInfoRequest())
    assert info.protocol_version == 1
    plain = served.stub()
    with pytest.raises(grpc.RpcError) as err:
        plain.GetServerInfo(pb.GetServerInfoRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_tls_needs_both_files(tmp_path):
    from server.config import ServerConfig

    with pytest.raises(ConfigError, match="together"):
        ServerConfig(tls_cert=tmp_path / "cert.pem")
