"""`agentscope_rpc.sse`: an app's stream as Server-Sent Events, over real HTTP."""
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import httpx
import pytest

from agentscope_rpc.message import Msg

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")

from agentscope_rpc.sse import create_app  # noqa: E402
from agentscope_rpc.transcript import read_transcript  # noqa: E402
from agentscope_rpc.streaming import pipeline, put_into_stream  # noqa: E402
from stream_agents import Endless, Putter, SpeechLog, Streamer, numbered  # noqa: E402

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def serve_app():
    """`serve_app(app_func, chunks=True)` -> base URL of a uvicorn server in a thread."""
    running = []

    def start(app_func=None, chunks=True, **options):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)  # connections queue until uvicorn accepts them
        config = uvicorn.Config(create_app(app_func, chunks, **options), log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        running.append((server, thread, sock))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    yield start
    for server, thread, sock in running:
        server.should_exit = True
        thread.join(10)
        sock.close()


def sse_events(response):
    """Parse (event, data) pairs from a streaming httpx response."""
    event, data = None, []
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[len("event:"):].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:"):].strip())
        elif line == "" and event is not None:
            yield event, json.loads("\n".join(data))
            event, data = None, []


def get_events(url, **params):
    with httpx.stream("GET", url + "/stream", params=params, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(sse_events(response))


def test_stream_sends_chunks_messages_puts_and_end(serve_app, module_server):
    streamer = Streamer("counter", n=300, to_dist=module_server.options)
    putter = Putter("putter", count=2, to_dist=module_server.options)

    @pipeline
    def app(greeting):  # query parameters arrive as keyword arguments
        put_into_stream({"greeting": greeting})
        streamer(None).result(timeout=30)
        putter(None).result(timeout=30)

    events = get_events(serve_app(app), greeting="hello")
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "put" and events[0][1] == {"greeting": "hello"}
    assert kinds[-1] == "end" and events[-1][1] == {"status": "completed"}

    log = SpeechLog()
    completed, texts = [], {}
    for i, (kind, data) in enumerate(events):
        if kind == "chunk":
            assert data["id"] not in completed  # nothing after a message completed
            assert data["name"] and data["role"] == "assistant"
            texts[data["id"]] = texts.get(data["id"], "") + data["delta"]  # deltas, never the whole text again
            log.record(Msg(data["name"], texts[data["id"]], id=data["id"]), data["last"])
            if data["last"]:  # a completed message follows its last chunk at once
                assert events[i + 1][0] == "message" and events[i + 1][1]["content"] == texts[data["id"]]
        elif kind == "message":
            completed.append(data["id"])
    log.assert_clean()
    sent = sum(len(d["delta"]) for k, d in events if k == "chunk" and d["name"] == "counter")
    assert sent == len(numbered(300))  # each character sent once (coalesced chunks: one bigger delta)
    names = [(_msg(d).name, d["content"]) for k, d in events if k == "message"]
    assert names == [("counter", numbered(300)), ("putter", "before"), ("putter", "after")]
    puts = [d for k, d in events if k == "put"]
    assert puts == [{"greeting": "hello"}, {"from": "putter", "i": 0}, {"from": "putter", "i": 1}]
    # puts sit between the putter's two messages
    before, after = (i for i, (k, d) in enumerate(events) if k == "message" and d["name"] == "putter")
    assert [k for k, _ in events[before:after]].count("put") == 2


def test_messages_only_mode_and_app_error(serve_app, module_server, tmp_path):
    flaky = Streamer("flaky", n=100, fail_at=30, to_dist=module_server.options)

    def app():  # a plain function: create_app wraps it
        put_into_stream("start")
        flaky(None).result(timeout=30)

    events = get_events(serve_app(app, chunks=False, transcript=str(tmp_path / "run.jsonl")))
    assert events == [
        ("put", "start"),
        ("error", {"type": "ValueError", "message": "chunk 30 failed on purpose", "remote": True}),
        ("end", {"status": "error"}),
    ]
    recorded = [(e.type, e.to_data()) for _, e in read_transcript(tmp_path / "run.jsonl")]
    assert recorded == events  # --transcript: the same events, in order


def test_client_disconnect_cancels_remote_work(serve_app, module_server, tmp_path):
    marker = tmp_path / "stopped"
    ticker = Endless("ticker", str(marker), to_dist=module_server.options)

    def app():
        ticker(None)

    base = serve_app(app)
    with httpx.stream("GET", base + "/stream", timeout=30) as response:
        chunks = 0
        for kind, data in sse_events(response):
            assert kind == "chunk" and data["name"] == "ticker"
            chunks += 1
            if chunks == 5:
                break  # leaving the with-block closes the connection
    deadline = time.monotonic() + 5
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the remote generator kept running after the client left"
    assert ticker.stopped


def test_index_page_is_the_live_page_with_no_external_assets(serve_app):
    @pipeline
    def my_chat():
        put_into_stream("x")

    page = httpx.get(serve_app(my_chat) + "/", timeout=10)
    assert page.status_code == 200
    assert "<title>my_chat" in page.text
    assert 'new EventSource("stream" + location.search)' in page.text
    for kind in ("chunk", "message", "put", "error", "end"):
        assert f'addEventListener("{kind}"' in page.text
    assert "http://" not in page.text and "https://" not in page.text and "src=" not in page.text  # offline


def test_replay_serves_a_transcript_in_order(serve_app, tmp_path):
    lines = [
        {"t": 0.0, "event": "put", "data": {"type": "phase", "title": "Day 1"}},
        {"t": 0.1, "event": "chunk", "data": {"id": "m", "name": "Eve", "role": "assistant", "seq": 0,
                                              "last": False, "delta": "Hi"}},
        {"t": 0.2, "event": "chunk", "data": {"id": "m", "name": "Eve", "role": "assistant", "seq": 1,
                                              "last": True, "delta": " all."}},
        {"t": 0.2, "event": "message", "data": {"id": "m", "name": "Eve", "role": "assistant", "content": "Hi all."}},
        {"t": 0.3, "event": "end", "data": {"status": "completed"}},
    ]
    path = tmp_path / "saved.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    base = serve_app(replay=str(path))
    assert [(e, d) for e, d in get_events(base, speed="0")] == [(line["event"], line["data"]) for line in lines]
    start = time.monotonic()
    get_events(base, speed="1")
    assert time.monotonic() - start >= 0.25  # paced as recorded
    path.write_text(json.dumps(lines[0]) + "\nnot json\n")
    events = get_events(base, speed="0")
    assert events[0][0] == "put" and events[1][0] == "error" and "saved.jsonl:2" in events[1][1]["message"]
    assert events[-1] == ("end", {"status": "error"})


def test_command_serves_an_app_file(tmp_path):
    app_file = tmp_path / "tiny_app.py"
    app_file.write_text(textwrap.dedent('''
        from agentscope_rpc.agents import AgentBase
        from agentscope_rpc.message import Msg

        class Echo(AgentBase):
            def reply(self, x=None):
                return self.speak(w for w in ("he", "llo ", x))

        def main(word="world"):
            Echo("echo")(word)
    '''))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentscope_rpc.sse", f"{app_file}:main", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert b"serving main" in proc.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                events = get_events(base, word="there")
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and proc.poll() is None, "the server did not start"
                time.sleep(0.1)
        messages = [d["content"] for k, d in events if k == "message"]
        assert messages == ["hello there"]
        assert events[-1] == ("end", {"status": "completed"})
    finally:
        proc.terminate()
        proc.wait(10)


def _msg(data):
    return Msg.from_dict(data)
