"""Parallel search: the same app run locally and with distributed agents.

Each `Searcher` answers one query by scanning a local corpus (the docstrings
of Python's standard library modules) and waiting `--latency` seconds, which
stands in for the round trip to a web search API (this machine has no
internet).  Run sequentially the queries add up; with `to_dist=True` every
searcher lives in its own agent server, calls return placeholders at once,
and the searches overlap.  The `Ranker` receives the searchers' placeholders
and fetches their results server-to-server.

    python examples/distributed/parallel_search.py [--queries 4] [--latency 1.0]

Errors are one line (exit 2 for a bad flag, 3 when a server is lost);
`--debug` shows tracebacks; Ctrl-C stops the servers and exits 130.
"""
from __future__ import annotations

import argparse
import pydoc
import re
import sys
import time

from agentscope_rpc import runtime, speech
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg
from agentscope_rpc.server.cli import run_command

QUERIES = ["json parsing", "thread pool", "socket timeout", "regular expression", "compress archive", "date time zone"]


STDLIB = (
    "argparse asyncio base64 bisect bz2 calendar collections concurrent contextlib csv "
    "datetime decimal difflib email fnmatch functools gzip hashlib heapq hmac html http "
    "inspect io ipaddress itertools json logging lzma math multiprocessing os pathlib "
    "pickle queue random re secrets select shutil socket socketserver sqlite3 ssl "
    "statistics string struct subprocess tarfile tempfile textwrap threading time "
    "tokenize typing unittest urllib uuid xml zipfile zlib zoneinfo"
).split()


def corpus() -> dict:
    """Module name -> docstring, for a fixed set of standard-library modules."""
    docs = {}
    for name in STDLIB:
        try:
            docs[name] = pydoc.getdoc(__import__(name)) or ""
        except ImportError:  # a module that needs an optional system library
            continue
    return docs


class Searcher(AgentBase):
    """Finds the corpus entries that best match a query."""

    def __init__(self, name: str, latency: float) -> None:
        super().__init__(name=name)
        self.latency = latency
        self.docs = corpus()

    def reply(self, x: Msg = None) -> Msg:
        words = re.findall(r"\w+", str(x.content).lower())
        scores = {
            name: sum(text.lower().count(w) for w in words)
            for name, text in self.docs.items()
        }
        time.sleep(self.latency)  # the search API's round trip
        best = sorted(scores, key=scores.get, reverse=True)[:3]
        return Msg(self.name, {"query": x.content, "hits": best}, "assistant")


class Ranker(AgentBase):
    """Merges the searchers' results."""

    def reply(self, x: list = None) -> Msg:
        lines = [f"{r.content['query']!r}: {', '.join(r.content['hits'])}" for r in x]
        return Msg(self.name, "\n".join(lines), "assistant")


def run(queries: list, latency: float, distributed: bool) -> tuple[str, float, float]:
    start = time.perf_counter()
    options = {"to_dist": True} if distributed else {}
    searchers = [Searcher(f"searcher{i}", latency, **options) for i in range(len(queries))]
    ranker = Ranker("ranker", **options)
    ready = time.perf_counter()
    results = [s(Msg("user", q, "user")) for s, q in zip(searchers, queries)]
    answer = ranker(results).content
    done = time.perf_counter()
    return answer, ready - start, done - ready


def compare(ns: argparse.Namespace) -> None:
    """Run the searches locally, then distributed, and print both timings."""
    runtime.default().set_printer(None)
    queries = QUERIES[: ns.queries]
    answer, _, seq_time = run(queries, ns.latency, distributed=False)
    print(answer)
    _, setup, dist_time = run(queries, ns.latency, distributed=True)
    print(f"\nsequential (one process):      {seq_time:6.2f} s")
    print(f"distributed ({len(queries)} agent servers): {dist_time:6.2f} s  (+{setup:.2f} s to start the servers)")
    print(f"speed-up: {seq_time / dist_time:.1f}x")


def main(argv: list | None = None) -> int:
    """Parse the flags and compare; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=4, metavar="N",
                        help=f"searches to run, 1 to {len(QUERIES)}; each gets its own agent server "
                             f"(default: %(default)s)")
    parser.add_argument("--latency", type=float, default=1.0, metavar="SECONDS",
                        help="simulated round trip of each search API call (default: %(default)s)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    ns = parser.parse_args(argv)
    if not 1 <= ns.queries <= len(QUERIES):
        parser.error(f"--queries must be between 1 and {len(QUERIES)}")
    if ns.latency < 0:
        parser.error("--latency must not be negative")
    return run_command(lambda: compare(ns), "parallel_search", ns.debug)


if __name__ == "__main__":
    sys.exit(main())
