"""AgentScope 0.1.6's agent-server settings, as `ServerConfig` accepts them.

Its launcher keywords and `as_server start` flags (`V0_SETTINGS`) are mapped
onto `ServerConfig` fields where they mean something here (`max_pool_size`
is `max_results`, `local_mode` picks the bind address), and accepted —
logged, or warned about — where they do not.
"""
from __future__ import annotations

import argparse
import ipaddress
import logging
from typing import Optional

log = logging.getLogger(__name__)
WILDCARD_HOSTS = ("0.0.0.0", "::", "")

# name -> (the ServerConfig field it sets, or None; what it means here)
V0_SETTINGS: dict[str, tuple[Optional[str], str]] = {
    "local_mode": (None, "true: bind 127.0.0.1; false: bind 0.0.0.0 (needs a token) and advertise --host"),
    "max_pool_size": ("max_results", "same as --max-results (finished results kept at most)"),
    "max_expire_time": ("result_ttl", "same as --result-ttl (seconds a finished result is kept)"),
    "max_timeout_seconds": (None, "ignored: calls have no server-side deadline here; "
                                  "a caller bounds its own wait (AsyncResult.result(timeout=...))"),
    "pool_type": (None, "'local' only: results live in the server's memory; 'redis' is accepted and "
                        "ignored with a warning"),
    "redis_url": (None, "ignored (no redis result pool)"),
    "studio_url": (None, "ignored: AgentScope Studio is not supported"),
    "no_log": (None, "ignored: an agent server writes no run directory; its log goes to stderr"),
    "save_api_invoke": (None, "ignored (no API-invocation records)"),
    "use_monitor": (None, "ignored (no token-usage monitor)"),
}
V0_CLI = {"max_pool_size": (int, "N"), "max_expire_time": (int, "SECONDS"), "max_timeout_seconds": (int, "SECONDS"),
          "pool_type": (str, "TYPE"), "redis_url": (str, "URL"), "studio_url": (str, "URL")}
V0_FLAGS = ("no_log", "save_api_invoke", "use_monitor")


def v0_targets(settings: dict) -> set:
    targets = {V0_SETTINGS[k][0] for k in settings if k in V0_SETTINGS and V0_SETTINGS[k][0]}
    if settings.get("local_mode") is not None:
        targets.add("advertise_host")
    return targets


def apply_v0(v0: dict, values: dict) -> None:
    for name, value in v0.items():
        target, meaning = V0_SETTINGS[name]
        if target:
            values.setdefault(target, value)
        elif name == "local_mode" and value is not None:
            host = values.get("host") or "localhost"
            if value:
                values["host"] = "127.0.0.1"
                if is_loopback_name(host) and host != "127.0.0.1":
                    values.setdefault("advertise_host", host)
            else:
                values["host"] = "0.0.0.0"
                if host not in WILDCARD_HOSTS:
                    values.setdefault("advertise_host", host)
        elif name == "pool_type":
            if value not in ("local", "redis"):
                raise ValueError(f"pool_type {value!r}: expected 'local' or 'redis'")
            if value == "redis":
                log.warning("pool_type='redis' is not supported: results stay in the server's memory")
        elif value not in (None, False):
            log.info("AgentScope 0.1.6 setting %s=%r %s", name, value, meaning)


def is_loopback_name(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_bool(text: str) -> bool:
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_v0_arguments(parser: argparse.ArgumentParser) -> None:
    """AgentScope 0.1.6's `as_server start` flags, in their own help group."""
    group = parser.add_argument_group(
        "AgentScope 0.1.6 flags",
        "accepted so that 0.1.6 command lines run; each says what it maps to here",
    )
    for name, (_, help_text) in V0_SETTINGS.items():
        flag = "--" + name.replace("_", "-")
        if name == "local_mode":
            group.add_argument(flag, dest="v0_" + name, nargs="?", const=True, default=None,
                               type=parse_bool, metavar="BOOL", help=help_text)
        elif name in V0_FLAGS:
            group.add_argument(flag, dest="v0_" + name, action="store_true", default=None, help=help_text)
        elif name in V0_CLI:
            kind, metavar = V0_CLI[name]
            group.add_argument(flag, dest="v0_" + name, type=kind, default=None, metavar=metavar, help=help_text)
