"""Every setting of an agent server, declared once.

The CLI (`as_server`), `RpcAgentServerLauncher` and the tests all build a
`ServerConfig`; the CLI's flags are generated from the fields below and
`to_argv()` turns a config back into flags for a subprocess.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass, field, fields
from typing import Any, Optional

from ..rpc.codec import TOKEN_ENV


def _opt(help_text: str, flag: Optional[str] = None, **extra: Any) -> Any:
    meta = {"help": help_text, "flag": flag}
    meta.update(extra)
    return meta


@dataclass
class ServerConfig:
    """Settings of one agent server process."""

    host: str = field(default="127.0.0.1", metadata=_opt("address to bind"))
    port: int = field(default=0, metadata=_opt("port to bind; 0 picks a free one and reports it"))
    advertise_host: Optional[str] = field(
        default=None,
        metadata=_opt("address other machines use to reach this server (default: --host)"),
    )
    token: Optional[str] = field(
        default=None,
        metadata=_opt(f"shared secret every RPC must carry (or env {TOKEN_ENV})", secret=True),
    )
    token_file: Optional[str] = field(default=None, metadata=_opt("read the token from this file"))
    agent_dir: list = field(
        default_factory=list,
        metadata=_opt("directory of .py files defining agent classes (repeatable)", repeat=True),
    )
    model_config_path: Optional[str] = field(
        default=None,
        metadata=_opt("JSON file of model configs to load at start"),
    )
    capacity: int = field(default=512, metadata=_opt("max agent calls running at once"))
    max_message_mb: float = field(default=32.0, metadata=_opt("largest request/response, in MiB"))
    code_shipping: bool = field(
        default=True,
        metadata=_opt("accept agent classes shipped by clients", flag="no-code-shipping"),
    )
    tls_cert: Optional[str] = field(default=None, metadata=_opt("PEM certificate chain: serve TLS"))
    tls_key: Optional[str] = field(default=None, metadata=_opt("PEM private key for --tls-cert"))
    tls_client_ca: Optional[str] = field(
        default=None,
        metadata=_opt("PEM CA bundle: require client certificates signed by it (mutual TLS)"),
    )
    result_ttl: float = field(default=600.0, metadata=_opt("seconds a finished result is kept"))
    max_results: int = field(default=100_000, metadata=_opt("finished results kept at most"))
    unknown_task_grace: float = field(
        default=10.0,
        metadata=_opt("seconds a fetch waits for a task the server has not seen yet"),
    )
    shutdown_grace: float = field(default=5.0, metadata=_opt("seconds running calls get at shutdown"))
    ready_fd: Optional[int] = field(
        default=None,
        metadata=_opt("write 'READY <port>' to this file descriptor once serving"),
    )
    watch_stdin: bool = field(
        default=False,
        metadata=_opt("exit when stdin closes (child servers die with their parent)"),
    )
    log_level: str = field(default="WARNING", metadata=_opt("logging level"))

    # -- derived -----------------------------------------------------------------
    def resolved_token(self) -> Optional[str]:
        if self.token:
            return self.token
        if self.token_file:
            with open(self.token_file, encoding="utf-8") as fh:
                return fh.read().strip() or None
        return os.environ.get(TOKEN_ENV) or None

    def is_loopback(self) -> bool:
        if self.host in ("localhost",):
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def validate(self) -> None:
        """Refuse unsafe or inconsistent settings before anything binds."""
        if not self.is_loopback() and not self.resolved_token():
            raise ValueError(
                f"refusing to bind {self.host}: a non-loopback agent server requires "
                f"an auth token (--token, --token-file or ${TOKEN_ENV})",
            )
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        if self.tls_client_ca and not self.tls_cert:
            raise ValueError("--tls-client-ca (mutual TLS) needs --tls-cert/--tls-key")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"bad port {self.port}")
        if self.capacity < 1:
            raise ValueError("--capacity must be at least 1")

    @property
    def max_message_bytes(self) -> int:
        return int(self.max_message_mb * 1024 * 1024)

    # -- CLI --------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        for f in fields(cls):
            meta = f.metadata
            flag = "--" + (meta.get("flag") or f.name.replace("_", "-"))
            if f.type in ("bool", bool):
                action = "store_false" if f.default else "store_true"
                parser.add_argument(flag, dest=f.name, action=action, help=meta["help"])
            elif meta.get("repeat"):
                parser.add_argument(flag, dest=f.name, action="append", default=[], help=meta["help"])
            else:
                kind = {"int": int, "float": float}.get(str(f.type).replace("Optional[", "").rstrip("]"), str)
                parser.add_argument(flag, dest=f.name, type=kind, default=f.default, help=meta["help"])

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> "ServerConfig":
        return cls(**{f.name: getattr(ns, f.name) for f in fields(cls) if hasattr(ns, f.name)})

    def to_argv(self, include_secrets: bool = False) -> list[str]:
        """Flags reproducing this config (secrets travel by environment instead)."""
        argv: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            meta = f.metadata
            if meta.get("secret") and not include_secrets:
                continue
            flag = "--" + (meta.get("flag") or f.name.replace("_", "-"))
            if f.type in ("bool", bool):
                if value != f.default:
                    argv.append(flag)
            elif meta.get("repeat"):
                for item in value:
                    argv += [flag, str(item)]
            elif value is not None and value != f.default:
                argv += [flag, str(value)]
        return argv
