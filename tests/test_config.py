"""ServerConfig: flags generated from fields, 0.1.6 keywords, the token rule (pure unit tests)."""
from __future__ import annotations

import argparse
import os
import secrets

import pytest

from agentscope_rpc.rpc.codec import TOKEN_ENV
from agentscope_rpc.server import ServerConfig
from agentscope_rpc.server.config import TOKEN_MIN_BITS, V0_SETTINGS, check_token_strength, token_strength_bits


def parse(*argv: str, reach_only: bool = False) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    ServerConfig.add_arguments(parser, reach_only=reach_only)
    if not reach_only:
        ServerConfig.add_v0_arguments(parser)
    return parser.parse_args(list(argv))


def test_to_argv_round_trips_through_the_flags(tmp_path) -> None:
    config = ServerConfig(host="localhost", port=7100, advertise_host="10.0.0.5", server_id="s",
                          agent_dir=[str(tmp_path)], capacity=7, code_shipping=False, result_ttl=3.5,
                          log_level="INFO", class_file="/x/classes.pkl", ready_fd=9, watch_stdin=True)
    again = ServerConfig.from_namespace(parse(*config.to_argv()))
    assert again == config
    assert ServerConfig().to_argv() == []


def test_secrets_never_become_flags() -> None:
    config = ServerConfig(token="t" * 30)
    assert "--token" not in config.to_argv()
    assert config.to_argv(include_secrets=True) == ["--token", "t" * 30]


def test_reach_only_flags_are_the_client_subset() -> None:
    ns = parse("--port", "5", "--token-file", "/t", reach_only=True)
    assert vars(ns) == {"host": "127.0.0.1", "port": 5, "token": None, "token_file": "/t"}
    with pytest.raises(SystemExit):
        parse(reach_only=True)  # --port is required to reach a server


@pytest.mark.parametrize("token, ok", [
    (secrets.token_urlsafe(16), True),      # 22 url-safe characters: 132 bits
    (secrets.token_hex(16), True),          # 32 hex digits: 128 bits
    (secrets.token_hex(15), False),         # 30 hex digits: 120 bits
    ("s3cret", False),
    ("a", False),
    ("ab" * 40, False),                     # long but two characters
    ("1234567890" * 3 + "12345678", False),  # 38 decimal digits: 126 bits
    ("1234567890" * 3 + "123456789", True),  # 39 decimal digits: 130 bits
])
def test_token_rule(token: str, ok: bool) -> None:
    assert (token_strength_bits(token) >= TOKEN_MIN_BITS) == ok or len(set(token)) < 8
    if ok:
        check_token_strength(token)
    else:
        with pytest.raises(ValueError, match="too weak"):
            check_token_strength(token)


def test_token_bits_use_the_smallest_alphabet() -> None:
    assert token_strength_bits("ff" * 16) == pytest.approx(128)
    assert token_strength_bits("9" * 10) == pytest.approx(10 * 3.3219, rel=1e-3)
    assert token_strength_bits("A_-z" * 5) == pytest.approx(120)
    assert token_strength_bits("!" * 10) == pytest.approx(10 * 6.5546, rel=1e-3)


def test_non_loopback_needs_a_strong_token(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ValueError, match="requires an auth token"):
        ServerConfig(host="0.0.0.0").validate()
    with pytest.raises(ValueError, match="too weak"):
        ServerConfig(host="0.0.0.0", token="x").validate()
    ServerConfig(host="0.0.0.0", token=secrets.token_urlsafe(16)).validate()
    ServerConfig(host="127.0.0.1", token="x").validate()  # loopback: any token
    monkeypatch.setenv(TOKEN_ENV, "weak")
    with pytest.raises(ValueError, match="too weak"):
        ServerConfig(host="0.0.0.0").validate()
    file = tmp_path / "token"
    file.write_text(secrets.token_urlsafe(32) + "\n")
    assert ServerConfig(token_file=str(file)).resolved_token() == file.read_text().strip()
    with pytest.raises(ValueError, match="cannot read --token-file"):
        ServerConfig(token_file=str(tmp_path / "missing")).resolved_token()


def test_v0_keywords_map_onto_fields() -> None:
    config = ServerConfig.from_settings(host="localhost", port=None, max_pool_size=10, max_expire_time=30,
                                        local_mode=True, agent_dir="/tmp", server_id="v0",
                                        max_timeout_seconds=5, studio_url="http://x", pool_type="redis",
                                        redis_url="redis://x")
    assert (config.port, config.max_results, config.result_ttl) == (0, 10, 30)
    assert (config.host, config.advertise_host, config.agent_dir) == ("127.0.0.1", "localhost", ["/tmp"])
    wide = ServerConfig.from_settings(host="10.0.0.5", local_mode=False, token="t")
    assert (wide.host, wide.advertise_host) == ("0.0.0.0", "10.0.0.5")
    assert ServerConfig.from_settings(host="10.0.0.5").host == "10.0.0.5"  # no local_mode: as given
    with pytest.raises(TypeError, match="max_pool_sise"):
        ServerConfig.from_settings(max_pool_sise=1)
    with pytest.raises(ValueError, match="pool_type"):
        ServerConfig.from_settings(pool_type="memcached")


def test_replace_applies_v0_keywords_over_old_values() -> None:
    base = ServerConfig(max_results=5, result_ttl=9)
    changed = base.replace(max_pool_size=50, shutdown_grace=1)
    assert (changed.max_results, changed.result_ttl, changed.shutdown_grace) == (50, 9, 1)
    assert base.max_results == 5


def test_v0_cli_flags() -> None:
    ns = parse("--local-mode", "--max-pool-size", "3", "--max-expire-time", "4", "--max-timeout-seconds", "5",
               "--no-log", "--studio-url", "u")
    config = ServerConfig.from_namespace(ns)
    assert (config.host, config.max_results, config.result_ttl) == ("127.0.0.1", 3, 4)
    assert ServerConfig.from_namespace(parse("--local-mode", "false", "--token", "t")).host == "0.0.0.0"
    assert ServerConfig.from_namespace(parse()).host == "127.0.0.1"
    assert set(V0_SETTINGS) >= {"local_mode", "max_pool_size", "max_expire_time", "max_timeout_seconds",
                                "studio_url", "pool_type"}


def test_validate_names_the_bad_setting(tmp_path) -> None:
    for config, message in [
        (ServerConfig(port=-1), "bad port"),
        (ServerConfig(capacity=0), "--capacity"),
        (ServerConfig(tls_cert="c.pem"), "go together"),
        (ServerConfig(tls_client_ca="ca.pem"), "mutual TLS"),
        (ServerConfig(model_config_path=str(tmp_path / "none.json")), "no such file"),
        (ServerConfig(agent_dir=[str(tmp_path / "none")]), "not a directory"),
        (ServerConfig(log_level="chatty"), "--log-level"),
        (ServerConfig(max_message_mb=0), "--max-message-mb"),
    ]:
        with pytest.raises(ValueError, match=message):
            config.validate()


def test_token_file_readable_by_others_warns(tmp_path, caplog) -> None:
    file = tmp_path / "token"
    file.write_text(secrets.token_urlsafe(32))
    os.chmod(file, 0o644)
    ServerConfig(token_file=str(file)).validate()
    assert "chmod 600" in caplog.text
