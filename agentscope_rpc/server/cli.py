"""`as_server start|stop|status`: run, stop or inspect an agent server.

Every expected failure is one line on stderr and an exit status
(`EXIT_CODES`); `--debug` adds the traceback.  `run_command` applies the
same rules to any command-line program (the examples use it).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import threading
import traceback
from typing import Callable, Optional

from .. import runtime
from ..exception import (
    AgentCallError,
    AgentCreationError,
    AgentServerNotAliveError,
    AuthenticationError,
    ModelConfigError,
)
from .config import TOKEN_ENV, ServerConfig

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_CODES = {
    EXIT_OK: "done",
    EXIT_ERROR: "unexpected error (a bug: rerun with --debug and report the traceback)",
    EXIT_USAGE: "bad command line or configuration (a flag, a value, a file that cannot be read, a weak token, "
                "an agent the server cannot create)",
    EXIT_UNREACHABLE: "network: the address cannot be bound (start) or the server cannot be reached",
    EXIT_REFUSED: "refused by the server: wrong or missing token",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C), after cleaning up",
}
EPILOG = "exit status:\n" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES.items())
_FORMAT = argparse.RawDescriptionHelpFormatter


def classify(err: BaseException) -> tuple[int, str]:
    """(exit status, one-line message) for an exception that ended a command."""
    first = (str(err).strip().splitlines() or [""])[0]
    if isinstance(err, AuthenticationError):
        return EXIT_REFUSED, first or "authentication failed"
    if isinstance(err, AgentServerNotAliveError):
        return EXIT_UNREACHABLE, first
    if isinstance(err, (ModelConfigError, ValueError)):
        return EXIT_USAGE, first
    if isinstance(err, AgentCreationError):  # a class or model config the server cannot use
        return EXIT_USAGE, first
    if isinstance(err, OSError):
        if err.filename is not None:  # a file the command needs
            return EXIT_USAGE, f"{err.filename}: {err.strerror or err}"
        return EXIT_UNREACHABLE, first
    if isinstance(err, AgentCallError):
        return EXIT_ERROR, f"an agent failed: {first} (--debug shows the remote traceback)"
    return EXIT_ERROR, f"unexpected {type(err).__name__}: {first} (rerun with --debug for the traceback)"


def run_command(body: Callable[[], Optional[int]], prog: str, debug: bool = False) -> int:
    """Run `body()`; map what it raises to one line on stderr and an exit status.

    Ctrl-C (KeyboardInterrupt) exits 130 with one line, after `body`'s own
    cleanup (`finally` blocks) ran.  With `debug` the traceback is printed too.
    """
    try:
        code = body()
    except KeyboardInterrupt:
        runtime.default().interrupt()  # exit then stops at once instead of draining calls
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit:
        raise
    except BaseException as err:  # pylint: disable=broad-except
        code, message = classify(err)
        if debug:
            traceback.print_exc()
        print(f"{prog}: {message}", file=sys.stderr)
        return code
    return EXIT_OK if code is None else int(code)


# -- start -------------------------------------------------------------------------
def _serve(config: ServerConfig) -> int:
    from .launcher import build_server
    from .registry import load_class_file

    config.validate()
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s [server %(process)d] %(name)s: %(message)s",
    )
    classes = load_class_file(config.class_file) if config.class_file else []
    stopped_by: list = []
    if config.watch_stdin:  # a child server: Ctrl-C in the terminal is its parent's to handle
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it (closes its stdin)

    async def main() -> None:
        server = build_server(config, classes)
        loop = asyncio.get_running_loop()

        def on_signal(sig: int) -> None:
            stopped_by.append(sig)
            server.request_stop()

        port = await server.start()
        if config.watch_stdin:
            def watch() -> None:
                try:
                    # os.read, not sys.stdin.buffer: a thread blocked in the buffered
                    # reader makes interpreter shutdown abort (StopServer, SIGTERM)
                    while os.read(0, 4096):
                        pass
                finally:
                    loop.call_soon_threadsafe(server.request_stop)

            threading.Thread(target=watch, name="parent-watch", daemon=True).start()
        for sig in (signal.SIGTERM,) if config.watch_stdin else (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)  # before READY: a stop right after it is clean
        name = f" {config.server_id}" if config.server_id else ""
        if config.ready_fd is None:  # a child reports to its parent on the ready pipe, quietly
            print(f"agent server{name} listening on {config.host}:{port} (pid {os.getpid()})",
                  file=sys.stderr, flush=True)
        if config.ready_fd is not None:
            os.write(config.ready_fd, f"READY {port}\n".encode())
            os.close(config.ready_fd)
        await server.wait_stopped()
        await server.stop()

    asyncio.run(main())
    if signal.SIGINT in stopped_by:
        print("as_server: interrupted; agent server stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


# -- stop / status ---------------------------------------------------------------------
def _read_pem(path: Optional[str]) -> str:
    if not path:
        return ""
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _remote(ns: argparse.Namespace) -> int:
    from .. import runtime
    from ..rpc._proto import agent_server_pb2 as pb
    from ..rpc.codec import Endpoint

    target = ServerConfig(host=ns.host, port=ns.port, token=ns.token, token_file=ns.token_file)
    endpoint = Endpoint(target.host, target.port, target.resolved_token() or "", _read_pem(ns.tls_root_cert),
                        _read_pem(ns.tls_client_cert), _read_pem(ns.tls_client_key))
    client = runtime.default().connection(endpoint)
    if ns.command == "stop":
        client.run("StopServer", pb.Empty(), ns.timeout, idempotent=False)
        print(f"stopping agent server {ns.host}:{ns.port}")
        return EXIT_OK
    info = client.run("GetServerInfo", pb.Empty(), ns.timeout)
    agents = client.run("ListAgents", pb.Empty(), ns.timeout)
    print(json.dumps({
        "pid": info.pid, "host": info.host, "port": info.port,
        "cpu_percent": info.cpu_percent, "memory_mb": round(info.memory_mb, 1),
        "agents": [{"id": a.agent_id, "name": a.name, "class": a.class_name,
                    "memory": a.memory_size, "busy": a.busy} for a in agents.agents],
        "running_calls": info.running_calls, "uptime_s": round(info.uptime_s, 1),
        "version": info.version,
    }, indent=2))
    return EXIT_OK


def _client_parser(sub: argparse._SubParsersAction, name: str, help_text: str, description: str) -> None:
    parser = sub.add_parser(name, help=help_text, description=description, epilog=EPILOG, formatter_class=_FORMAT)
    ServerConfig.add_arguments(parser, reach_only=True)
    parser.add_argument("--tls-root-cert", metavar="PEM", help="CA certificate that signed the server's certificate")
    parser.add_argument("--tls-client-cert", metavar="PEM", help="client certificate, for a mutual-TLS server")
    parser.add_argument("--tls-client-key", metavar="PEM", help="private key of --tls-client-cert")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                        help="give up after this many seconds (default: %(default)s)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def build_parser() -> argparse.ArgumentParser:
    """The `as_server` argument parser."""
    parser = argparse.ArgumentParser(
        prog="as_server",
        description="Run, stop or inspect an agentscope-rpc agent server.",
        epilog=EPILOG,
        formatter_class=_FORMAT,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{start,stop,status}")
    start = sub.add_parser(
        "start",
        help="Run an agent server in the foreground until it is stopped.",
        description="Run an agent server in the foreground until Ctrl-C, SIGTERM or `as_server stop`.\n"
                    "A non-loopback --host requires a token of at least 128 bits\n"
                    f"(--token-file or ${TOKEN_ENV}; e.g. secrets.token_urlsafe(32)).",
        epilog=EPILOG,
        formatter_class=_FORMAT,
    )
    ServerConfig.add_arguments(start)
    ServerConfig.add_v0_arguments(start)
    start.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    _client_parser(sub, "stop", "Ask a running agent server to stop.",
                   "Ask a running agent server to stop; running calls get its --shutdown-grace.")
    _client_parser(sub, "status", "Print a running agent server's status as JSON.",
                   "Print a running agent server's pid, agents, running calls and uptime as JSON.")
    return parser


def main(argv: Optional[list] = None) -> int:
    """Entry point of `as_server` (and `python -m agentscope_rpc.server`)."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    if getattr(ns, "token", None):
        print("as_server: warning: --token is visible to every local user (/proc/<pid>/cmdline); "
              f"use --token-file or ${TOKEN_ENV}", file=sys.stderr)
    if ns.command == "start":
        return run_command(lambda: _serve(ServerConfig.from_namespace(ns)), "as_server", ns.debug)
    return run_command(lambda: _remote(ns), f"as_server {ns.command}", ns.debug)


if __name__ == "__main__":
    sys.exit(main())
