"""`AgentServer`: one grpc.aio server hosting agents, start to stop.

In a server process it serves on that process's loop and runtime; started
in-process (`start_in_thread`, used by the launcher) it gets a `Runtime` and
loop thread of its own, so the agents it hosts never share the caller's
printer, loop or connections.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
from typing import Optional

import grpc
from grpc_health.v1 import health, health_pb2

from .. import runtime as runtime_mod
from ..rpc import codec
from .auth import TokenInterceptor
from .config import ServerConfig
from .host import AgentHost
from .servicer import AgentServicer, MalformedRequestInterceptor, add_to_server

log = logging.getLogger(__name__)
SERVICE_NAME = "agentscope_rpc.AgentServer"
FLUSH_S = 0.5  # at stop, time for replies already produced to reach their callers


def _ensure_port_free(host: str, port: int) -> None:
    """Fail if `port` is taken on any address `host` names.

    grpc binds what it can of a name's addresses (`localhost`: ::1 and
    127.0.0.1) and succeeds if one worked; a collision must fail instead.
    """
    if port == 0:
        return
    for family, kind, proto, _, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like grpc: TIME_WAIT is no collision
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(addr)
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    raise OSError(f"cannot bind {host}:{port}: address in use on {addr[0]}") from err


def _read(path: Optional[str]) -> Optional[bytes]:
    if not path:
        return None
    with open(path, "rb") as fh:
        return fh.read()


class AgentServer:
    """Serve agents per `ServerConfig` (see module docstring)."""

    def __init__(self, config: ServerConfig, classes: Optional[list] = None,
                 runtime: Optional[runtime_mod.Runtime] = None) -> None:
        config.validate()
        self.config = config
        self.classes = list(classes or ())
        self.runtime = runtime
        self.port: Optional[int] = None
        self.host: Optional[AgentHost] = None
        self._server: Optional[grpc.aio.Server] = None
        self._stopped: Optional[asyncio.Event] = None

    async def start(self) -> int:
        """Bind and start serving on the running loop; returns the bound port."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        rt = self.runtime or runtime_mod.default()
        rt.use_loop(loop)  # agents calling other remote agents use this loop
        if cfg.model_config_path:
            from ..models import read_model_configs

            read_model_configs(cfg.model_config_path)
        self._stopped = asyncio.Event()
        token = cfg.resolved_token() or ""
        self.host = AgentHost(cfg, loop, rt, self.classes)
        self.host.capability_key = codec.capability_key(token) if token else None
        interceptors: list = [TokenInterceptor(token, self.host.capability_key)] if token else []
        interceptors.append(MalformedRequestInterceptor())
        if not token:
            log.warning("agent server on %s has no token: any local process may use it", cfg.host)
        options = [
            ("grpc.max_receive_message_length", cfg.max_message_bytes + (1 << 20)),
            ("grpc.max_send_message_length", cfg.max_message_bytes + (1 << 20)),
            ("grpc.so_reuseport", 0),  # a busy port must fail, not be shared
            ("grpc.max_concurrent_streams", 1000),  # per connection
            ("grpc.http2.bdp_probe", 0),  # receive windows stay small: a refused body is not read ahead
            ("grpc.max_connection_idle_ms", 300_000),  # a connection with no stream for 5 min is closed
            # requests arriving faster than the loop accepts them queue rather than
            # being cancelled at random (grpc's defaults: 1000 soft, 3000 hard)
            ("grpc.server.max_pending_requests", 100_000),
            ("grpc.server.max_pending_requests_hard_limit", 100_000),
            # a caller that froze or whose link was cut is noticed within seconds
            ("grpc.keepalive_time_ms", 10_000),
            ("grpc.keepalive_timeout_ms", 3_000),
            ("grpc.http2.ping_timeout_ms", 3_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 1_000),
            ("grpc.http2.max_ping_strikes", 0),
        ]
        server = grpc.aio.server(interceptors=interceptors, options=options)
        health_servicer = health.aio.HealthServicer()
        add_to_server(AgentServicer(self.host, token, self.request_stop), health_servicer, server)
        address = f"{cfg.host}:{cfg.port}"
        _ensure_port_free(cfg.host, cfg.port)
        if cfg.tls_cert:
            # fetching placeholders from peers (mutual TLS) presents this server's identity
            rt.fetch_identity = (_read(cfg.tls_cert).decode(), _read(cfg.tls_key).decode())
            creds = grpc.ssl_server_credentials(
                [(_read(cfg.tls_key), _read(cfg.tls_cert))],
                root_certificates=_read(cfg.tls_client_ca),
                require_client_auth=bool(cfg.tls_client_ca),
            )
        try:
            port = server.add_secure_port(address, creds) if cfg.tls_cert else server.add_insecure_port(address)
        except RuntimeError as err:  # grpc's "Failed to bind to address"
            raise OSError(f"cannot bind {address}: address in use or unavailable") from err
        if port == 0:
            raise OSError(f"cannot bind {address}: address in use or unavailable")
        await server.start()
        await health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        self.port = port
        self.host.address = (cfg.advertise_host or cfg.host, port)
        log.info("agent server serving on %s:%d (pid %d)", cfg.host, port, os.getpid())
        return port

    def request_stop(self) -> None:
        if self._stopped is not None:
            self._stopped.set()

    async def wait_stopped(self) -> None:
        assert self._stopped is not None, "start() first"
        await self._stopped.wait()

    async def serve_until_stopped(self) -> None:
        """Serve (once started) until asked to stop (StopServer, a signal, `request_stop`), then stop."""
        await self.wait_stopped()
        await self.stop()

    async def stop(self, grace: Optional[float] = None) -> None:
        """Stop accepting calls, give running ones `grace` seconds, fail the rest."""
        if self._server is None:
            return
        grace = self.config.shutdown_grace if grace is None else grace
        server, self._server = self._server, None
        if self.host is not None:
            self.host.shutdown()  # queued calls fail now, with a clear error
            try:  # running calls get `grace`; idle session streams must not hold the stop
                await asyncio.wait_for(self.host.idle.wait(), grace)
            except asyncio.TimeoutError:
                pass
            try:  # sessions end on their own once answered (their callers see a clean end)
                await asyncio.wait_for(self.host.no_sessions.wait(), FLUSH_S)
            except asyncio.TimeoutError:
                for session in list(self.host.sessions):  # still unanswered: end with a clear status
                    session.end(grpc.StatusCode.UNAVAILABLE, "the agent server stopped before answering")
                try:
                    await asyncio.wait_for(self.host.no_sessions.wait(), FLUSH_S)
                except asyncio.TimeoutError:
                    pass
        await server.stop(FLUSH_S)
        self.request_stop()

    # -- in-process ---------------------------------------------------------------------
    def start_in_thread(self) -> int:
        """Serve on a runtime and loop thread of its own; returns the bound port."""
        if self.runtime is None:
            self.runtime = runtime_mod.Runtime(name="agent-server", printer=None)
        return self.runtime.run_sync(self.start())

    def stop_in_thread(self) -> None:
        rt = self.runtime
        if rt is None:
            return
        rt.run_sync(self.stop(), timeout=self.config.shutdown_grace + 10)
        rt.close()
