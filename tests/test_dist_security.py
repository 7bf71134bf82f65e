"""Security defaults (DESIGN §8): bind rules, tokens, TLS / mutual TLS, size cap, ports."""
import datetime
import ipaddress
import os
import secrets
import subprocess
import sys

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agentscope_rpc.exception import (
    AgentServerNotAliveError,
    AuthenticationError,
    MessageTooLargeError,
)
from agentscope_rpc.message import Msg
from remote_proxies import attach
from agentscope_rpc.rpc.codec import TOKEN_ENV
from agentscope_rpc.server import RpcAgentServerLauncher, ServerConfig
from dist_agents import Appender, BigProducer, Tally

pytestmark = pytest.mark.timeout(120)


def _env_without_token():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    env.pop(TOKEN_ENV, None)
    return env


def _server_cli(*flags: str) -> subprocess.CompletedProcess:
    """`as_server start FLAGS` without a token in the environment; expected to exit."""
    return subprocess.run(
        [sys.executable, "-m", "agentscope_rpc.server", "start", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env_without_token(),
        check=False,
    )


def test_non_loopback_bind_needs_a_token(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ValueError, match="token"):
        ServerConfig(host="0.0.0.0").validate()
    with pytest.raises(ValueError, match="token"):
        RpcAgentServerLauncher(host="0.0.0.0", port=0)
    ServerConfig(host="0.0.0.0", token=secrets.token_urlsafe(16)).validate()  # at least 128 bits
    ServerConfig(host="localhost").validate()
    done = _server_cli("--host", "0.0.0.0", "--port", "0")
    assert done.returncode != 0
    assert "requires an auth token" in done.stderr


@pytest.mark.parametrize("bad_token", ["wrong-token", ""], ids=["wrong", "missing"])
def test_wrong_or_missing_token_runs_nothing(module_server, bad_token):
    tally = Tally("tally", to_dist=module_server.options)
    intruder_options = dict(module_server.options, token=bad_token)
    with pytest.raises(AuthenticationError):
        Tally("intruder", to_dist=intruder_options).wait_ready(timeout=10)
    intruder = attach(intruder_options, tally.agent_id, {"bump": False, "reply": True}, "tally")
    with pytest.raises(AuthenticationError):
        intruder(Msg("x", "y")).result(timeout=10)
    with pytest.raises(AuthenticationError):
        intruder.bump()
    with pytest.raises(AuthenticationError):
        intruder.calls  # pylint: disable=pointless-statement
    with pytest.raises(AuthenticationError):
        intruder.get_memory()
    assert tally.calls == 0  # nothing the intruder sent ran
    assert tally.get_memory() == []
    assert tally(None).result(timeout=10).content == 1


def test_unauthenticated_garbage_is_refused_before_parsing(module_server):
    channel = grpc.insecure_channel(f"{module_server.host}:{module_server.port}")
    try:
        call = channel.unary_stream("/agentscope_rpc.AgentServer/Call", request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as info:
            list(call(b"\xff" * 64, metadata=(("authorization", "Bearer nope"),), timeout=10))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        channel.close()


# -- TLS --------------------------------------------------------------------------
def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _cert(subject, issuer, key, issuer_key, ca=False, san=None, usage=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    if usage:
        usages = usage if isinstance(usage, list) else [usage]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """CA, server cert for 127.0.0.1/localhost, client cert; PEM file paths."""
    base = tmp_path_factory.mktemp("pki")
    ca_key, server_key, client_key = _key(), _key(), _key()
    ca = _cert("test-ca", "test-ca", ca_key, ca_key, ca=True)
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    # servers also act as clients of each other (placeholder fetches under mutual TLS)
    server = _cert(
        "agent-server", "test-ca", server_key, ca_key, san=san,
        usage=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    client = _cert("orchestrator", "test-ca", client_key, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    paths = {}
    for name, obj in (("ca", ca), ("server", server), ("client", client)):
        paths[name] = base / f"{name}.pem"
        paths[name].write_bytes(obj.public_bytes(serialization.Encoding.PEM))
    for name, key in (("server_key", server_key), ("client_key", client_key)):
        paths[name] = base / f"{name}.pem"
        paths[name].write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        )
    return {k: str(v) for k, v in paths.items()}


def test_tls(module_server_factory, pki):
    server = module_server_factory(tls_cert=pki["server"], tls_key=pki["server_key"])
    agent = Appender("tls", to_dist=dict(server.options, tls_root_cert=pki["ca"]))
    assert agent(Msg("user", "over ")).result(timeout=10).content == "over tls"
    with pytest.raises(AgentServerNotAliveError):  # a plaintext client cannot talk to it
        Appender("plain", to_dist=server.options).wait_ready(timeout=30)
    # server-to-server hand-off between TLS servers (the reference carries the CA)
    other = module_server_factory(tls_cert=pki["server"], tls_key=pki["server_key"])
    producer = Appender("first", delay=0.5, to_dist=dict(server.options, tls_root_cert=pki["ca"]))
    consumer = Appender("second", to_dist=dict(other.options, tls_root_cert=pki["ca"]))
    assert consumer(producer(Msg("user", "tls:"))).result(timeout=20).content == "tls:firstsecond"


def test_mutual_tls(module_server_factory, pki):
    server = module_server_factory(tls_cert=pki["server"], tls_key=pki["server_key"], tls_client_ca=pki["ca"])
    with_cert = dict(
        server.options,
        tls_root_cert=pki["ca"],
        tls_client_cert=pki["client"],
        tls_client_key=pki["client_key"],
    )
    agent = Appender("mtls", to_dist=with_cert)
    assert agent(Msg("user", "over ")).result(timeout=10).content == "over mtls"
    with pytest.raises(AgentServerNotAliveError):  # no client certificate: refused
        Appender("anonymous", to_dist=dict(server.options, tls_root_cert=pki["ca"])).wait_ready(timeout=30)


def test_mutual_tls_handoff(module_server_factory, pki):
    def options(server):
        return dict(
            server.options,
            tls_root_cert=pki["ca"],
            tls_client_cert=pki["client"],
            tls_client_key=pki["client_key"],
        )

    settings = {"tls_cert": pki["server"], "tls_key": pki["server_key"], "tls_client_ca": pki["ca"]}
    server_a, server_b = module_server_factory(**settings), module_server_factory(**settings)
    producer = Appender("first", delay=0.5, to_dist=options(server_a))
    consumer = Appender("second", to_dist=options(server_b))
    assert consumer(producer(Msg("user", "mtls:"))).result(timeout=20).content == "mtls:firstsecond"


# -- size cap and ports --------------------------------------------------------------
def test_message_size_cap(module_server_factory):
    server = module_server_factory(max_message_mb=1)
    agent = Appender("small", to_dist=server.options)
    big = Msg("user", "x" * (2 * 1024 * 1024))
    with pytest.raises(MessageTooLargeError, match="too large"):
        agent(big).result(timeout=10)
    # refused calls never reach the agent's mailbox, which must not wait for them forever
    calls = [agent(big), agent(Msg("user", "1-")), agent(big), agent(Msg("user", "2-"))]
    for refused in calls[0::2]:
        with pytest.raises(MessageTooLargeError):
            refused.result(timeout=10)
    assert [p.result(timeout=20).content for p in calls[1::2]] == ["1-small", "2-small"]
    producer = BigProducer("big-reply", 2 * 1024 * 1024, to_dist=server.options)
    with pytest.raises(MessageTooLargeError):
        producer(None).result(timeout=10)
    assert Appender("after", to_dist=server.options)(None).result(timeout=10).content == "after"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_busy_port_fails_loudly(module_server, server_factory, host):
    with pytest.raises(AgentServerNotAliveError, match="exited with code"):
        server_factory(host=host, port=module_server.port)
    done = _server_cli("--host", host, "--port", str(module_server.port))
    assert done.returncode != 0
    assert "in use" in done.stderr
    assert Appender("first", to_dist=module_server.options)(None).result(timeout=10).content == "first"
