"""Start, inspect and stop a fleet of agent servers described in one JSON file.

    python server/fleet.py start  [--config server/fleet.json] [--only NAME ...]
    python server/fleet.py status [--config ...]
    python server/fleet.py stop   [--config ...]

Each entry of `servers` runs `python -m agentscope_rpc.server start ...`:
on this machine when its host is this machine (or `"local": true`), else
through the `ssh` command template (default `ssh {host} {command}`; any key
of the entry may appear in the template, `{command}` is the quoted shell
command).  The shared token lives in `token_file` (created with mode 0600
when missing); it reaches servers as a file (`--token-file`), copied to
remote hosts over the template's stdin -- never on a command line.  pid and
log files go to `run_dir`.  See server/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from agentscope_rpc.exception import AgentServerNotAliveError
from agentscope_rpc.server.child import wait_ready
from agentscope_rpc.rpc.codec import TOKEN_ENV
from agentscope_rpc.server import ServerConfig

DEFAULTS = {
    "run_dir": "~/.agentscope_rpc/fleet",
    "token_file": "~/.agentscope_rpc/fleet/token",
    "python": None,  # default: this interpreter locally, python3 on remote hosts
    "ssh": "ssh {host} {command}",
    "remote_dir": ".",
    "pythonpath": [],
    "agent_dirs": [],
    "model_config": None,
    "bind": None,
    "extra_args": [],
    "log_level": "INFO",
}
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def load_fleet(path: str) -> list:
    """The server entries, each merged over the file's top-level defaults."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    shared = {**DEFAULTS, **{k: v for k, v in data.items() if k != "servers"}}
    entries = []
    for i, server in enumerate(data.get("servers", [])):
        entry = {**shared, **server}
        entry.setdefault("name", f"server{i + 1}")
        entry.setdefault("advertise", entry["host"])
        entry["bind"] = entry["bind"] or entry["host"]
        if "port" not in entry:
            raise SystemExit(f"fleet: server {entry['name']} has no port")
        entries.append(entry)
    return entries


def is_local(entry: dict) -> bool:
    if "local" in entry:
        return bool(entry["local"])
    host = entry["host"]
    if host in LOOPBACK or host in (socket.gethostname(), socket.getfqdn()):
        return True
    try:
        import psutil

        return any(a.address == host for addrs in psutil.net_if_addrs().values() for a in addrs)
    except ImportError:
        return False


def ensure_token(path: str) -> str:
    """Read the token file, creating it (mode 0600, random token) when missing."""
    file = Path(path).expanduser()
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        print(f"fleet: wrote a new token to {file} (mode 0600)")
    return file.read_text(encoding="utf-8").strip()


def server_config(entry: dict, token_file: str) -> ServerConfig:
    """The entry's server settings (paths as the server's host sees them)."""
    return ServerConfig(
        host=entry["bind"], port=int(entry["port"]), advertise_host=entry["advertise"],
        token_file=token_file, log_level=entry["log_level"], agent_dir=list(entry["agent_dirs"]),
        model_config_path=entry["model_config"] or None, server_id=entry["name"],
    )


def server_argv(entry: dict, token_file: str) -> list:
    """`python -m agentscope_rpc.server start` with the entry's flags (from ServerConfig)."""
    flags = server_config(entry, token_file).to_argv()
    return [entry["python"], "-m", "agentscope_rpc.server", "start", *flags, *(str(a) for a in entry["extra_args"])]


def pythonpath(entry: dict, base: str) -> str:
    paths = [p if os.path.isabs(os.path.expanduser(p)) else os.path.join(base, p) for p in entry["pythonpath"]]
    return os.pathsep.join(paths)


def via_template(entry: dict, command: str, stdin: str = "", timeout: float = 60) -> str:
    """Run a shell command on the entry's host through its template; its stdout."""
    argv = shlex.split(entry["ssh"].format(**{**entry, "command": shlex.quote(command)}))
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{entry['name']}: {' '.join(argv[:3])} ... failed: {done.stderr.strip()}")
    return done.stdout


def pid_file(entry: dict) -> Path:
    return Path(entry["run_dir"]).expanduser() / f"{entry['name']}.pid"


# -- start -------------------------------------------------------------------------
def start_local(entry: dict) -> int:
    entry = {**entry, "python": entry["python"] or sys.executable}
    run_dir = Path(entry["run_dir"]).expanduser()
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop(TOKEN_ENV, None)
    extra = pythonpath(entry, os.getcwd())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra, env.get("PYTHONPATH", "")) if p)
    read_fd, write_fd = os.pipe()
    argv = server_argv(entry, str(Path(entry["token_file"]).expanduser())) + ["--ready-fd", str(write_fd)]
    with open(run_dir / f"{entry['name']}.log", "ab") as log:
        try:
            proc = subprocess.Popen(  # pylint: disable=consider-using-with
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                pass_fds=(write_fd,), start_new_session=True,  # outlives this script
            )
        finally:
            os.close(write_fd)
    try:
        wait_ready(read_fd, proc, READY_TIMEOUT_S)  # the same READY handshake as child servers
    except AgentServerNotAliveError as err:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise RuntimeError(f"{entry['name']}: {err} (see {run_dir / (entry['name'] + '.log')})") from None
    finally:
        os.close(read_fd)
    return proc.pid


def start_remote(entry: dict) -> int:
    entry = {**entry, "python": entry["python"] or "python3"}
    run_dir, token_file = entry["run_dir"], entry.get("remote_token_file", entry["token_file"])
    token = ensure_token(entry["token_file"])  # copied over the template's stdin, never in argv
    via_template(entry, f"umask 077 && mkdir -p {_q(os.path.dirname(token_file) or '.')} && cat > {_q(token_file)}", token + "\n")
    env = f"PYTHONPATH={_q(pythonpath(entry, entry['remote_dir']))}${{PYTHONPATH:+:$PYTHONPATH}}"
    log = f"{run_dir}/{entry['name']}.log"
    command = (f"cd {_q(entry['remote_dir'])} && mkdir -p {_q(run_dir)} && {env} nohup "
               f"{' '.join(_q(a) for a in server_argv(entry, token_file))} >> {_q(log)} 2>&1 < /dev/null & echo $!")
    pid = int(via_template(entry, command).split()[-1])
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:  # no ready pipe over ssh: ask until it answers
        if server_info(entry) is not None:
            return pid
        time.sleep(0.5)  # between status probes of a starting remote server
    raise RuntimeError(f"{entry['name']}: no answer from {entry['advertise']}:{entry['port']} (see {log} there)")


def _q(text: str) -> str:
    """Quote for the remote shell, but let a leading ~/ expand there."""
    if text.startswith("~/"):
        return "~/" + shlex.quote(text[2:])
    return shlex.quote(text)


def start(entries: list) -> int:
    failed = 0
    for entry in entries:
        ensure_token(entry["token_file"])
        if server_info(entry) is not None:
            print(f"{entry['name']}: already running on {entry['advertise']}:{entry['port']}")
            continue
        try:
            local = is_local(entry)
            pid = (start_local if local else start_remote)(entry)
        except (OSError, RuntimeError, subprocess.SubprocessError, ValueError) as err:
            print(f"{entry['name']}: FAILED: {err}", file=sys.stderr)
            failed += 1
            continue
        path = pid_file(entry)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"pid": pid, "local": local, "host": entry["host"]}))
        print(f"{entry['name']}: started on {entry['advertise']}:{entry['port']} (pid {pid}, {'local' if local else 'remote'})")
    return 1 if failed else 0


# -- status / stop ---------------------------------------------------------------------
def _cli(entry: dict, action: str, timeout: float = 5.0) -> subprocess.CompletedProcess:
    reach = ServerConfig(host=entry["advertise"], port=int(entry["port"]),
                         token_file=str(Path(entry["token_file"]).expanduser()))
    argv = [sys.executable, "-m", "agentscope_rpc.server", action, *reach.to_argv(), "--timeout", str(timeout)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30, check=False)


def server_info(entry: dict) -> Optional[dict]:
    """The server's status (pid, agents, ...) or None when it does not answer."""
    if not Path(entry["token_file"]).expanduser().exists():
        return None
    done = _cli(entry, "status", timeout=3.0)
    return json.loads(done.stdout) if done.returncode == 0 else None


def status(entries: list) -> int:
    down = 0
    for entry in entries:
        info = server_info(entry)
        where = f"{entry['advertise']}:{entry['port']}"
        if info is None:
            down += 1
            print(f"{entry['name']:<12} {where:<22} DOWN")
        else:
            print(f"{entry['name']:<12} {where:<22} up  pid {info['pid']}  agents {len(info['agents'])}"
                  f"  running {info['running_calls']}  uptime {info['uptime_s']:.0f}s")
    return 1 if down else 0


def stop(entries: list) -> int:
    for entry in entries:
        path = pid_file(entry)
        record = json.loads(path.read_text()) if path.exists() else {}
        if server_info(entry) is not None:
            _cli(entry, "stop")
        pid = record.get("pid")
        if pid and not _wait_gone(entry, record):
            _kill(entry, record, signal.SIGKILL)
        path.unlink(missing_ok=True)
        print(f"{entry['name']}: stopped")
    return 0


def _alive(entry: dict, record: dict) -> bool:
    if record.get("local", True):
        try:
            os.kill(record["pid"], 0)
        except ProcessLookupError:
            return False
        return not _is_zombie(record["pid"])
    return via_template(entry, f"kill -0 {int(record['pid'])} 2>/dev/null && echo yes || echo no").strip() == "yes"


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _wait_gone(entry: dict, record: dict) -> bool:
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if not _alive(entry, record):
            return True
        time.sleep(0.2)  # between checks of a process we asked to exit
    return False


def _kill(entry: dict, record: dict, sig: int) -> None:
    if record.get("local", True):
        try:
            os.kill(record["pid"], sig)
        except ProcessLookupError:
            pass
    else:
        via_template(entry, f"kill -{int(sig)} {int(record['pid'])} || true")


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog="fleet.py", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "status", "stop"])
    parser.add_argument("--config", default=str(Path(__file__).with_name("fleet.json")))
    parser.add_argument("--only", nargs="+", metavar="NAME", help="act on these servers only")
    args = parser.parse_args(argv)
    entries = load_fleet(args.config)
    if args.only:
        entries = [e for e in entries if e["name"] in args.only]
    return {"start": start, "status": status, "stop": stop}[args.action](entries)


if __name__ == "__main__":
    sys.exit(main())
