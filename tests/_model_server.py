"""Test helpers: a scripted OpenAI-style HTTP server and the llama.cpp server."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

OK_BODY = {
    "id": "cmpl-1",
    "object": "chat.completion",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Hello there"}}],
}

STREAM_EVENTS = [
    {"choices": [{"index": 0, "delta": {"role": "assistant"}}]},
    {"choices": [{"index": 0, "delta": {"content": "Hel"}}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": ""}}]}}]},
    {"choices": [{"index": 0, "delta": {"content": "lo"}}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": '{"city": '}}]}}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": '"Paris"}'}}]}}]},
    {"choices": [{"index": 0, "delta": {"content": " there"}}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        stub = self.server.stub
        with stub.lock:
            stub.requests.append({"path": self.path, "body": body,
                                  "headers": {k.lower(): v for k, v in self.headers.items()}})
            action = stub.script.pop(0) if stub.script else "ok"
        if action == "stream":
            action = STREAM_EVENTS
        if isinstance(action, list):  # a scripted stream: these chunk events, then [DONE]
            self._start_chunked()
            for event in action:
                self._chunk(f"data: {json.dumps(event)}\n\n")
            self._chunk("data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
        elif action == "ok":
            self._send_json(200, OK_BODY)
        elif action.isdigit():
            self._send_json(int(action), {"error": {"message": "bad request body" if action == "400"
                                                    else "try later"}})
        elif action == "broken-before-token":
            self._start_chunked()
            self._chunk(f"data: {json.dumps(STREAM_EVENTS[0])}\n\n")
            self._abort()
        elif action == "broken-after-token":
            self._start_chunked()
            self._chunk(f"data: {json.dumps(STREAM_EVENTS[1])}\n\n")
            self._abort()
        else:
            raise AssertionError(f"unknown stub action {action!r}")

    def _send_json(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _start_chunked(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, text):
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _abort(self):
        """Drop the connection in the middle of the chunked body."""
        self.wfile.write(b"40\r\ndata: {\"choi")
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: "StubServer"

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # aborted streams end in OSError
            super().handle_error(request, client_address)


class StubServer:
    """`script` lists what each request gets: "ok", "stream", an HTTP status
    ("503"), "broken-before-token", "broken-after-token" or a list of stream
    chunk events (sent as SSE, then [DONE]); then "ok"."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_llama_server(gguf: str, log_path: Path, ready_within: float = 120.0, extra_args: tuple = ()):
    """Start `python -m llama_cpp.server` on a free port; returns (proc, base_url).

    Waits until GET /v1/models answers (test set-up: polling with a deadline).
    """
    port = free_port()
    threads = max(1, len(os.sched_getaffinity(0)) // 2) if hasattr(os, "sched_getaffinity") else 1
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", gguf,
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
             "--n_threads", str(threads), "--n_threads_batch", str(threads), *extra_args],
            stdout=out, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + ready_within
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                return proc, base_url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop_process(proc)
            raise RuntimeError(f"llama_cpp.server not ready: {log_path.read_text()[-2000:]}")
        time.sleep(0.2)  # test set-up: poll readiness until the deadline


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
