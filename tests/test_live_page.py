"""The live page in a real browser: Debian's Chromium driven by Playwright.

Against a real `main.py --sse` werewolf game on the policy model (talk paced
word by word) and a small app with two agents streaming at once on a real
agent server.  Never downloads a browser: `/usr/bin/chromium` (the Makefile's
`sysdeps` installs it); the tests skip, saying why, only where Chromium
cannot start.  Screenshots are saved under the test's tmp dir (and to
`$LIVE_PAGE_SCREENSHOT` when set, which is how docs/img/live-page.png was made).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")

from _page import browser, free_port, served  # noqa: E402,F401  (browser: the fixture)
from agentscope_rpc.sse import create_app  # noqa: E402
from agentscope_rpc.streaming import pipeline  # noqa: E402
from stream_agents import Streamer  # noqa: E402

pytestmark = pytest.mark.timeout(240)
REPO = Path(__file__).resolve().parents[1]

# Records, per card, every text length it showed, and whether two open cards ever stood side by side.
OBSERVER = """
window.__growth = {}; window.__sideBySide = false;
new MutationObserver(() => {
  for (const card of document.querySelectorAll('.card')) {
    const seen = window.__growth[card.dataset.id] || (window.__growth[card.dataset.id] = []);
    const n = card.querySelector('.text').textContent.length;
    if (seen[seen.length - 1] !== n) seen.push(n);
  }
  for (const row of document.querySelectorAll('.row')) {
    const open = [...row.querySelectorAll('.card.open')];
    if (open.length >= 2) {
      const [a, b] = open.map(c => c.getBoundingClientRect());
      if (Math.abs(a.top - b.top) < 2 && Math.abs(a.left - b.left) > 50) window.__sideBySide = true;
    }
  }
}).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
"""


@pytest.fixture
def werewolf_page():
    """`main.py --policy --sse PORT` in a subprocess; yields its URL."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "examples/distributed/werewolf/main.py"), "--policy", "--policy-delay", "0.6",
         "--servers", "2", "--sse", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the page server did not start"
                time.sleep(0.1)  # test set-up: wait for the port, with a deadline
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(20)


def save(page, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000
    wanted = os.environ.get("LIVE_PAGE_SCREENSHOT")
    if wanted and name == "werewolf-live.png":
        shutil.copy(shot, wanted)
    return shot


def test_a_live_werewolf_game_in_the_browser(browser, werewolf_page, tmp_path):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.add_init_script(OBSERVER)
    page.goto(werewolf_page + "/?rounds=2&seed=1")
    assert page.locator("#empty").is_visible() and "Waiting" in page.inner_text("#empty")
    page.wait_for_selector(".card.open", timeout=90_000)  # a message is streaming
    assert page.inner_text("#status") == "live"
    page.wait_for_selector(".banner.day ~ .row .card.open", timeout=120_000)  # day talk, streaming
    save(page, tmp_path, "werewolf-live.png")
    page.wait_for_selector("body[data-ended]", timeout=180_000)
    assert page.get_attribute("body", "data-ended") == "completed"
    assert page.inner_text("#status") == "ended"
    banners = [b.upper() for b in page.locator(".banner").all_inner_texts()]
    assert len(banners) >= 2 and banners == ["NIGHT 1", "DAY 1", "NIGHT 2", "DAY 2"][:len(banners)]
    growth = page.evaluate("window.__growth")
    assert any(len(lengths) >= 4 and lengths == sorted(lengths) for lengths in growth.values()), growth
    cards = page.locator(".card")
    assert cards.count() > 20
    assert page.locator(".card.private .channel").count() > 0  # night lines are marked private
    end = page.inner_text("#end")
    assert "Game over after" in end and ("win" in end or "draw" in end)
    assert "werewolf" in page.inner_text("#roster")  # roles revealed at the end
    body = page.inner_text("main")
    assert "put " not in body and "\\n" not in body and "{'" not in body  # data is rendered, never a repr
    assert page.evaluate("window.scrollY") > 0  # it followed the game down
    save(page, tmp_path, "werewolf.png")
    page.close()


def test_two_streams_at_once_side_by_side_and_scrolling_pauses(browser, module_server, tmp_path):
    talkers = [Streamer(name, n=60, pause=0.05, to_dist=module_server.options) for name in ("Ann", "Ben")]
    more = [Streamer(name, n=12, pause=0.03, to_dist=module_server.options) for name in ("Cy", "Di")]

    @pipeline(chunks=True)
    def duet():
        pending = [t(None) for t in talkers]  # both speak at the same time
        for p in pending:
            p.result(timeout=60)
        for _ in range(25):  # then enough messages to scroll
            for p in [t(None) for t in more]:
                p.result(timeout=60)

    with served(create_app(duet)) as url:
        page = browser.new_page(viewport={"width": 1000, "height": 400})
        page.add_init_script(OBSERVER)
        page.goto(url + "/")
        page.wait_for_function("document.querySelectorAll('.card').length >= 2", timeout=60_000)
        page.wait_for_function("window.__sideBySide", timeout=60_000)
        page.wait_for_function("document.body.scrollHeight > window.innerHeight + 300", timeout=60_000)
        assert page.evaluate("window.scrollY") > 0  # following the stream so far
        page.evaluate("window.scrollTo(0, 0); window.dispatchEvent(new Event('scroll'))")
        count = page.locator(".card").count()
        page.wait_for_function(f"document.querySelectorAll('.card').length > {count + 2}", timeout=60_000)
        assert page.evaluate("window.scrollY") == 0  # the reader scrolled up: it stays put
        assert page.locator("#jump").is_visible()
        page.click("#jump")  # back to following
        page.wait_for_selector("body[data-ended]", timeout=120_000)
        assert page.evaluate("window.innerHeight + window.scrollY >= document.body.scrollHeight - 80")
        save(page, tmp_path, "duet.png")
        page.close()
