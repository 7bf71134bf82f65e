"""`ServerAddress`: how to reach one agent server of a fleet."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

_TLS_KEYS = ("tls_root_cert", "tls_client_cert", "tls_client_key", "tls_server_name")


@dataclass(frozen=True)
class ServerAddress:
    """One agent server: host, port, its token and, if used, TLS options.

    `tls` holds `to_dist` TLS options as `(key, value)` pairs
    (`tls_root_cert`, `tls_client_cert`, `tls_client_key`, `tls_server_name`;
    PEM text or a path).  The token is left out of `repr`.
    """

    host: str
    port: int
    token: str = field(default="", repr=False)
    tls: tuple = ()

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("a server address needs a host")
        if not isinstance(self.port, int) or isinstance(self.port, bool) or not 0 < self.port < 65536:
            raise ValueError(f"bad port {self.port!r} for agent server {self.host}")
        unknown = {key for key, _ in self.tls} - set(_TLS_KEYS)
        if unknown:
            raise ValueError(f"unknown TLS option(s): {', '.join(sorted(unknown))}")

    @property
    def address(self) -> str:
        """`host:port` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def options(self) -> dict:
        """The `to_dist` options that place an agent on this server."""
        return {"host": self.host, "port": self.port, "token": self.token, **dict(self.tls)}

    @classmethod
    def parse(cls, spec: Union["ServerAddress", str, tuple, list, dict], token: str = "") -> "ServerAddress":
        """From `"host:port"`, `(host, port)`, a `to_dist`-style dict or a ServerAddress.

        `token` applies where `spec` carries none of its own.
        """
        if isinstance(spec, ServerAddress):
            return spec
        if isinstance(spec, str):
            host, sep, port = spec.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port, got {spec!r}")
            return cls(host.strip("[]"), int(port), token)
        if isinstance(spec, (tuple, list)) and len(spec) == 2:
            return cls(str(spec[0]), _port(spec[1], spec), token)
        if isinstance(spec, dict):
            extra = set(spec) - {"host", "port", "token", *_TLS_KEYS}
            if extra or "host" not in spec or "port" not in spec:
                raise ValueError(f"expected a dict with host and port (and token, tls_*), got keys {sorted(spec)}")
            tls = tuple((k, spec[k]) for k in _TLS_KEYS if spec.get(k))
            return cls(str(spec["host"]), _port(spec["port"], spec), spec.get("token") or token, tls)
        raise ValueError(f"cannot read an agent server address from {spec!r}")


def _port(value: Any, spec: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"bad port in {spec!r}") from None
