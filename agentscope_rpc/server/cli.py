"""`as_server start|stop|status`: run or inspect an agent server."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
from typing import Optional

from .config import ServerConfig


def _serve(config: ServerConfig) -> int:
    from .agent_server import AgentServer

    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s [server %(process)d] %(name)s: %(message)s",
    )

    async def main() -> None:
        server = AgentServer(config)
        port = await server.start()
        loop = asyncio.get_running_loop()
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
        import signal

        for sig in (signal.SIGTERM, signal.SIGINT):  # before READY: a stop right after it is clean
            loop.add_signal_handler(sig, server.request_stop)
        print(f"agent server listening on {config.host}:{port} (pid {os.getpid()})", file=sys.stderr, flush=True)
        if config.ready_fd is not None:
            os.write(config.ready_fd, f"READY {port}\n".encode())
            os.close(config.ready_fd)
        await server.wait_stopped()
        await server.stop()

    try:
        asyncio.run(main())
    except (OSError, ValueError) as err:
        print(f"as_server: {err}", file=sys.stderr)
        return 2
    return 0


def _client_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", default=None)
    parser.add_argument("--token-file", default=None)
    parser.add_argument("--tls-root-cert", default=None, help="PEM CA that signed the server's certificate")
    parser.add_argument("--timeout", type=float, default=5.0)


def _remote(ns: argparse.Namespace, action: str) -> int:
    from .. import runtime
    from ..rpc._proto import agent_server_pb2 as pb
    from ..rpc.codec import Endpoint

    token = ns.token or (open(ns.token_file, encoding="utf-8").read().strip() if ns.token_file else None)
    token = token or os.environ.get("AGENTSCOPE_RPC_TOKEN", "")
    root = open(ns.tls_root_cert, encoding="utf-8").read() if ns.tls_root_cert else ""
    client = runtime.default().connection(Endpoint(ns.host, ns.port, token, root))
    try:
        if action == "stop":
            client.run("StopServer", pb.Empty(), ns.timeout, idempotent=False)
            print(f"stopping agent server {ns.host}:{ns.port}")
        else:
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
    except Exception as err:  # pylint: disable=broad-except
        print(f"as_server {action}: {err}", file=sys.stderr)
        return 1
    return 0


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog="as_server", description="agentscope-rpc agent server")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="run an agent server in the foreground")
    ServerConfig.add_arguments(start)
    for name in ("stop", "status"):
        _client_args(sub.add_parser(name, help=f"{name} a running agent server"))
    ns = parser.parse_args(argv)
    if ns.command == "start":
        return _serve(ServerConfig.from_namespace(ns))
    return _remote(ns, ns.command)


if __name__ == "__main__":
    sys.exit(main())
