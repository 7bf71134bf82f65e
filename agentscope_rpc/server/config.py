"""Every setting of an agent server, declared once.

The CLI (`as_server`), `RpcAgentServerLauncher`, the fleet kit and the tests
all build a `ServerConfig`; the CLI's flags are generated from the fields
below (also the client flags of `as_server stop|status`: `--host`, `--port`,
`--token`, `--token-file`), and `to_argv()` turns a config back into flags
for a subprocess.  AgentScope 0.1.6's launcher keywords and `as_server` flags
are accepted too (`config_v0.V0_SETTINGS`): mapped onto these fields where
they mean something here, accepted and documented where they do not.

Token rule for a non-loopback bind (`token_strength_bits`): at least 128
bits, estimated as the token's length times log2 of the smallest alphabet
holding all its characters — decimal digits (10), hex digits (16), base64 /
url-safe base64 (64), printable ASCII (94) — with at least 8 distinct
characters.  `secrets.token_urlsafe(16)` (22 characters) and
`secrets.token_hex(16)` (32 hex digits) are the shortest tokens that pass.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import stat
import string
from dataclasses import dataclass, field, fields
from typing import Any, Optional

from .._environ import TOKEN_ENV
from .config_v0 import V0_SETTINGS, add_v0_arguments, apply_v0, is_loopback_name, v0_targets

log = logging.getLogger(__name__)
TOKEN_MIN_BITS = 128
TOKEN_MIN_DISTINCT = 8


def _opt(help_text: str, flag: Optional[str] = None, **extra: Any) -> Any:
    meta = {"help": help_text, "flag": flag}
    meta.update(extra)
    return meta


@dataclass
class ServerConfig:
    """Every setting of one agent server process, declared once.

    `as_server start` takes its flags from these fields, `to_argv()` turns a
    config back into flags for a child server, `RpcAgentServerLauncher` and
    the tests build one, and `from_settings` also takes AgentScope 0.1.6's
    launcher keywords.
    """

    host: str = field(default="127.0.0.1", metadata=_opt("address to bind", reach=True, metavar="HOST"))
    port: int = field(default=0, metadata=_opt("port to bind; 0 picks a free one and reports it", reach=True, metavar="N"))
    advertise_host: Optional[str] = field(
        default=None,
        metadata=_opt("address other machines use to reach this server (default: --host)", metavar="HOST"),
    )
    server_id: Optional[str] = field(
        default=None,
        metadata=_opt("a name for this server, shown in its log lines (AgentScope 0.1.6's --server-id)",
                      metavar="NAME"),
    )
    token: Optional[str] = field(
        default=None,
        metadata=_opt(
            f"shared secret every RPC must carry; visible to every local user in /proc/<pid>/cmdline, "
            f"so prefer --token-file or ${TOKEN_ENV}",
            secret=True, reach=True, metavar="TOKEN",
        ),
    )
    token_file: Optional[str] = field(
        default=None,
        metadata=_opt(f"read the token from this file (mode 0600); default: ${TOKEN_ENV}", reach=True,
                      metavar="PATH"),
    )
    agent_dir: list = field(
        default_factory=list,
        metadata=_opt("directory of .py files defining agent classes (repeatable)", repeat=True),
    )
    model_config_path: Optional[str] = field(
        default=None,
        metadata=_opt("JSON file of model configs to load at start", metavar="PATH"),
    )
    capacity: int = field(
        default=512,
        metadata=_opt("worker threads that run blocking agent code (replies, model calls) at once", metavar="N"),
    )
    max_message_mb: float = field(default=32.0, metadata=_opt("largest request or response, in MiB", metavar="MIB"))
    code_shipping: bool = field(
        default=True,
        metadata=_opt(
            "refuse agent classes shipped by clients: build agents only from installed packages, "
            "--agent-dir files and classes the launcher registered",
            flag="no-code-shipping",
        ),
    )
    tls_cert: Optional[str] = field(default=None, metadata=_opt("PEM certificate chain: serve TLS", metavar="PEM"))
    tls_key: Optional[str] = field(default=None, metadata=_opt("PEM private key for --tls-cert", metavar="PEM"))
    tls_client_ca: Optional[str] = field(
        default=None,
        metadata=_opt("PEM CA bundle: require client certificates signed by it (mutual TLS)", metavar="PEM"),
    )
    result_ttl: float = field(default=600.0, metadata=_opt("seconds a finished result is kept at most", metavar="SECONDS"))
    max_results: int = field(default=100_000, metadata=_opt("finished results kept at most", metavar="N"))
    max_result_mb: float = field(default=256.0, metadata=_opt(
        "MiB of finished results kept at most (the oldest go first)", metavar="MIB"))
    unknown_task_grace: float = field(
        default=10.0,
        metadata=_opt("seconds a fetch waits for a task the server has not seen yet", metavar="SECONDS"),
    )
    shutdown_grace: float = field(default=5.0, metadata=_opt("seconds running calls get at shutdown", metavar="SECONDS"))
    log_level: str = field(default="WARNING", metadata=_opt("logging level: DEBUG, INFO, WARNING or ERROR", metavar="LEVEL"))
    # internal: set by the process that starts a server, hidden from --help
    ready_fd: Optional[int] = field(
        default=None,
        metadata=_opt("write 'READY <port>' to this file descriptor once serving", hidden=True),
    )
    watch_stdin: bool = field(
        default=False,
        metadata=_opt("exit when stdin closes (child servers die with their parent)", hidden=True),
    )
    class_file: Optional[str] = field(
        default=None,
        metadata=_opt("cloudpickled agent classes registered at start (written by the launcher)", hidden=True),
    )

    # -- v0 keywords -----------------------------------------------------------------
    @classmethod
    def from_settings(cls, **settings: Any) -> "ServerConfig":
        """Build a config from field names and AgentScope 0.1.6 keywords.

        An unknown keyword is a `TypeError`, as for any function; a 0.1.6
        keyword is mapped (`V0_SETTINGS`) or, where it means nothing here,
        accepted and logged.
        """
        ours = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - ours - set(V0_SETTINGS))
        if unknown:
            raise TypeError(f"unknown agent server setting(s): {', '.join(unknown)}")
        values = {k: v for k, v in settings.items() if k in ours}
        apply_v0({k: v for k, v in settings.items() if k in V0_SETTINGS}, values)
        if isinstance(values.get("agent_dir"), (str, os.PathLike)):
            values["agent_dir"] = [os.fspath(values["agent_dir"])]
        if values.get("port") is None:
            values.pop("port", None)
        return cls(**values)

    def replace(self, **settings: Any) -> "ServerConfig":
        """A copy with some settings changed (field names or 0.1.6 keywords)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in v0_targets(settings):  # a 0.1.6 keyword given now wins over the old value
            values.pop(name, None)
        return type(self).from_settings(**{**values, **settings})

    # -- derived -----------------------------------------------------------------
    def resolved_token(self) -> Optional[str]:
        """The token: `token`, else the content of `token_file`, else the environment."""
        if self.token:
            return self.token
        if self.token_file:
            try:
                with open(self.token_file, encoding="utf-8") as fh:
                    return fh.read().strip() or None
            except OSError as err:
                raise ValueError(f"cannot read --token-file {self.token_file}: {err.strerror or err}") from err
        return os.environ.get(TOKEN_ENV) or None

    def is_loopback(self) -> bool:
        """Whether the bind address is this machine's loopback only."""
        return is_loopback_name(self.host)

    def validate(self) -> None:
        """Refuse unsafe or inconsistent settings before anything binds (ValueError)."""
        token = self.resolved_token()
        if not self.is_loopback():
            if not token:
                raise ValueError(
                    f"refusing to bind {self.host}: a non-loopback agent server requires "
                    f"an auth token (--token-file or ${TOKEN_ENV})",
                )
            check_token_strength(token, f"refusing to bind {self.host}: ")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        if self.tls_client_ca and not self.tls_cert:
            raise ValueError("--tls-client-ca (mutual TLS) needs --tls-cert/--tls-key")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"bad port {self.port}: expected 0..65535")
        if self.capacity < 1:
            raise ValueError("--capacity must be at least 1")
        if self.max_message_mb <= 0:
            raise ValueError("--max-message-mb must be positive")
        for flag, path in (("--tls-cert", self.tls_cert), ("--tls-key", self.tls_key),
                           ("--tls-client-ca", self.tls_client_ca),
                           ("--model-config-path", self.model_config_path)):
            if path and not os.path.isfile(path):
                raise ValueError(f"{flag} {path}: no such file")
        for directory in self.agent_dir:
            if not os.path.isdir(directory):
                raise ValueError(f"--agent-dir {directory} is not a directory")
        if not isinstance(logging.getLevelName(str(self.log_level).upper()), int):
            raise ValueError(f"--log-level {self.log_level!r}: expected DEBUG, INFO, WARNING or ERROR")
        if self.token_file:
            _warn_if_shared(self.token_file)

    @property
    def max_message_bytes(self) -> int:
        """`max_message_mb` in bytes."""
        return int(self.max_message_mb * 1024 * 1024)

    # -- CLI --------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, reach_only: bool = False) -> None:
        """Add a flag per field (`reach_only`: just how to reach a server)."""
        for f in fields(cls):
            meta = f.metadata
            if reach_only and not meta.get("reach"):
                continue
            flag = _flag(f)
            help_text = argparse.SUPPRESS if meta.get("hidden") else meta["help"]
            if f.type in ("bool", bool):
                action = "store_false" if f.default else "store_true"
                parser.add_argument(flag, dest=f.name, action=action, help=help_text)
            elif meta.get("repeat"):
                parser.add_argument(flag, dest=f.name, action="append", default=[], metavar="DIR", help=help_text)
            elif reach_only and f.name == "port":
                parser.add_argument(flag, dest=f.name, type=int, required=True, metavar="N",
                                    help="port of the server")
            elif reach_only and f.name == "host":
                parser.add_argument(flag, dest=f.name, default=f.default, metavar="HOST",
                                    help="address of the server (default: %(default)s)")
            else:
                kind = {"int": int, "float": float}.get(str(f.type).replace("Optional[", "").rstrip("]"), str)
                if f.default is not None and help_text is not argparse.SUPPRESS:
                    help_text += " (default: %(default)s)"
                parser.add_argument(flag, dest=f.name, type=kind, default=f.default, help=help_text,
                                    metavar=meta.get("metavar"))

    @classmethod
    def add_v0_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """AgentScope 0.1.6's `as_server start` flags, in their own help group."""
        add_v0_arguments(parser)

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> "ServerConfig":
        """The config the parsed flags describe (0.1.6 flags included)."""
        values = {f.name: getattr(ns, f.name) for f in fields(cls) if hasattr(ns, f.name)}
        v0 = {k[3:]: v for k, v in vars(ns).items() if k.startswith("v0_") and v is not None}
        for name in v0_targets(v0):  # a 0.1.6 flag given wins over the default of its field
            values.pop(name, None)
        return cls.from_settings(**values, **v0)

    def to_argv(self, include_secrets: bool = False) -> list[str]:
        """Flags reproducing this config (secrets travel by environment instead)."""
        argv: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            meta = f.metadata
            if meta.get("secret") and not include_secrets:
                continue
            flag = _flag(f)
            if f.type in ("bool", bool):
                if value != f.default:
                    argv.append(flag)
            elif meta.get("repeat"):
                for item in value:
                    argv += [flag, str(item)]
            elif value is not None and value != f.default:
                argv += [flag, str(value)]
        return argv


def _flag(f: Any) -> str:
    return "--" + (f.metadata.get("flag") or f.name.replace("_", "-"))


# -- tokens --------------------------------------------------------------------------------
_ALPHABETS = (
    (set(string.digits), 10),
    (set(string.hexdigits), 16),
    (set(string.ascii_letters + string.digits + "-_+/="), 64),
    (set(string.printable) - set(string.whitespace), 94),
)


def token_strength_bits(token: str) -> float:
    """Estimated bits of a token: length x log2(smallest alphabet holding it)."""
    chars = set(token)
    size = next((n for alphabet, n in _ALPHABETS if chars <= alphabet), 94)
    return len(token) * math.log2(size)


def check_token_strength(token: str, prefix: str = "") -> None:
    """Raise ValueError unless `token` meets the rule in the module docstring."""
    bits = token_strength_bits(token)
    if bits < TOKEN_MIN_BITS or len(set(token)) < TOKEN_MIN_DISTINCT:
        raise ValueError(
            f"{prefix}the token is too weak (about {bits:.0f} bits, {len(set(token))} distinct characters; "
            f"at least {TOKEN_MIN_BITS} bits and {TOKEN_MIN_DISTINCT} distinct characters required): "
            f"use e.g. python -c \"import secrets; print(secrets.token_urlsafe(32))\"",
        )


def _warn_if_shared(path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("token file %s is accessible to other users (mode %o): chmod 600 it", path, mode & 0o777)


__all__ = ["ServerConfig", "TOKEN_ENV", "TOKEN_MIN_BITS", "V0_SETTINGS", "check_token_strength",
           "token_strength_bits"]
