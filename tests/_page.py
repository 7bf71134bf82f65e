"""The live page in a real browser: shared by the browser tests.

`browser` (a module-scoped fixture; `chromium()` as a context manager):
Debian's Chromium at `/usr/bin/chromium` driven by Playwright, headless;
never downloads a browser, and skips, saying why, only where Chromium cannot
start.  `served(asgi_app)`: a real uvicorn
server in a thread on a free loopback port, yielding its base URL.
"""
from __future__ import annotations

import contextlib
import os
import socket
import threading
from typing import Any, Iterator

import pytest

uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs the playwright package")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium for the duration of the block (skips the test if it is missing or cannot start)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (make sysdeps installs Debian's chromium)")
    with sync_api.sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        except Exception as err:  # pylint: disable=broad-except
            pytest.skip(f"Chromium cannot start here: {str(err).splitlines()[0]}")
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module."""
    with chromium() as launched:
        yield launched


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served(asgi_app: Any) -> Iterator[str]:
    """Serve `asgi_app` with uvicorn in a thread; yields `http://127.0.0.1:PORT`."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # connections queue until uvicorn accepts them
    server = uvicorn.Server(uvicorn.Config(asgi_app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
