"""The benchmark workloads on Ray 2.60 actors (a peer).

Runs in ``bench/.venvs/ray260`` (``python bench/envs.py``):

    bench/.venvs/ray260/bin/python bench/peers/ray_actors.py WORKLOAD [--quick] [--repeats N]

Prints one ``BENCH_JSON`` line (see ``bench/_common.py``).  A local Ray
(``ray.init(num_cpus=2)``); an agent is an actor (a worker process of its
own) where one process per agent is affordable, and otherwise an object
inside a "host" actor, the Ray way of packing many light agents into one
process: the 200-sleeper fan-out uses one threaded host actor with
``max_concurrency=200``, the 10,000-agent round four host actors.
Messages are small dicts; placeholders are ``ObjectRef``s.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _common as common  # noqa: E402

_T0 = common.now()  # launch5 counts from before `import ray`
import ray  # noqa: E402

TINY = {"name": "bench", "content": "hi", "role": "user"}
ACTORS_PER_CREATE_RUN = {"full": 20, "quick": 10}
ACTORS_FOR_MEMORY = 10


@ray.remote(num_cpus=0)
class Echo:
    def __init__(self, name: str) -> None:
        self.name = name
        self.memory: list = []

    def reply(self, x: dict) -> dict:
        return {"name": self.name, "content": "ok", "role": "assistant"}

    def relay(self, x: dict) -> dict:  # x arrives resolved: Ray fetched the ObjectRef
        return {"name": self.name, "content": x["content"], "role": "assistant"}

    def pid(self) -> int:
        return os.getpid()

    def sleep(self, seconds: float) -> dict:
        time.sleep(seconds)
        return {"name": self.name, "content": "woke", "role": "assistant"}

    def stream(self, n: int):
        yield f"{time.time():.6f}|"
        for _ in range(n - 1):
            yield "x"


class _Agent:
    """A light agent living inside a host actor."""

    __slots__ = ("name", "memory")

    def __init__(self, name: str) -> None:
        self.name = name
        self.memory: list = []

    def reply(self, x: dict) -> dict:
        return {"name": self.name, "content": "ok", "role": "assistant"}


@ray.remote(num_cpus=0)
class Host:
    """Many light agents in one actor process."""

    def __init__(self) -> None:
        self.agents: dict = {}

    def create(self, name: str) -> bool:
        self.agents[name] = _Agent(name)
        return True

    def call(self, name: str, x: dict) -> dict:
        return self.agents[name].reply(x)

    def sleep(self, name: str, seconds: float) -> dict:
        time.sleep(seconds)
        return {"name": name, "content": "woke", "role": "assistant"}


def start_ray() -> None:
    # loopback only: Ray would otherwise advertise the machine's interface address
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR", configure_logging=True, _node_ip_address="127.0.0.1")


def setup(args) -> None:
    if args.workload != "launch5":
        start_ray()


def teardown() -> None:
    if ray.is_initialized():
        ray.shutdown()


# -- workloads ---------------------------------------------------------------------------
def launch5(n: int, repeats: int) -> tuple:
    start_ray()
    runtime_up = common.now()
    actors = [Echo.remote(f"a{i}") for i in range(n)]
    ray.get([actor.reply.remote(TINY) for actor in actors], timeout=120)
    end = common.now()
    runs = [{"wall_s": end - _T0, "actors_only_s": end - runtime_up}]
    return runs, (f"import ray + ray.init(num_cpus=2) + {n} actors (a worker process each) "
                  "until each replied; one run per fresh process")


def call_latency(n: int, repeats: int) -> tuple:
    actor = Echo.remote("echo")
    for _ in range(200):
        ray.get(actor.reply.remote(TINY))
    runs = []
    for _ in range(repeats):
        samples = []
        for _ in range(n):
            start = common.now()
            ray.get(actor.reply.remote(TINY))
            samples.append(common.now() - start)
        runs.append(common.latency_stats(samples))
    return runs, f"{n} sequential ray.get(actor.reply.remote(msg)) per run"


def pipelined(n: int, repeats: int) -> tuple:
    actor = Echo.remote("echo")
    ray.get([actor.reply.remote(TINY) for _ in range(200)])
    runs = []
    for _ in range(repeats):
        start = common.now()
        ray.get([actor.reply.remote(TINY) for _ in range(n)], timeout=300)
        runs.append({"calls_per_s": n / (common.now() - start)})
    return runs, f"{n} .remote() calls, then one ray.get of all"


def chain2(n: int, repeats: int) -> tuple:
    a, b = Echo.remote("a"), Echo.remote("b")
    for _ in range(50):
        ray.get(b.relay.remote(a.reply.remote(TINY)))
    runs = []
    for _ in range(repeats):
        samples = []
        for _ in range(n):
            start = common.now()
            ray.get(b.relay.remote(a.reply.remote(TINY)))
            samples.append(common.now() - start)
        runs.append(common.latency_stats(samples))
    return runs, "two actors; b's call gets the ObjectRef of a's reply (Ray resolves it before b runs)"


def fanout200(n: int, repeats: int) -> tuple:
    host = Host.options(max_concurrency=n).remote()
    ray.get([host.create.remote(f"s{i}") for i in range(n)])
    runs = []
    for _ in range(repeats):
        start = common.now()
        ray.get([host.sleep.remote(f"s{i}", common.SLEEP_S) for i in range(n)], timeout=300)
        runs.append({"wall_s": common.now() - start})
    return runs, (f"{n} agents as objects in one threaded actor with max_concurrency={n} "
                  f"(200 actors would be 200 worker processes); each call sleeps {common.SLEEP_S}s")


def create_rate(n: int, repeats: int) -> tuple:
    count = ACTORS_PER_CREATE_RUN["quick" if n < 1000 else "full"]
    ray.get(Echo.remote("warm").reply.remote(TINY))
    runs = []
    keep = []
    for r in range(repeats):
        start = common.now()
        actors = [Echo.remote(f"e{r}_{i}") for i in range(count)]
        ray.get([actor.reply.remote(TINY) for actor in actors], timeout=300)
        runs.append({"agents_per_s": count / (common.now() - start)})
        keep.extend(actors)
        for actor in actors:
            ray.kill(actor)
    return runs, f"{count} actors per run (each a worker process), created until each replied"


def idle_memory(n: int, repeats: int) -> tuple:
    import psutil

    runs = []
    for _ in range(repeats):
        runtime = psutil.Process().children(recursive=True)
        idle_mb = sum(common.rss_mb(p.pid) for p in runtime if p.is_running())
        actors = [Echo.remote(f"idle{i}") for i in range(ACTORS_FOR_MEMORY)]
        pids = ray.get([actor.pid.remote() for actor in actors])
        time.sleep(0.5)
        per_actor_mb = sum(common.rss_mb(pid) for pid in pids) / len(pids)
        runs.append({"kb_per_agent": per_actor_mb * 1024, "idle_server_mb": idle_mb})
        for actor in actors:
            ray.kill(actor)
    return runs, (f"RSS of an idle actor's worker process (mean of {ACTORS_FOR_MEMORY}); "
                  "idle 'server' = RSS of the Ray runtime processes (raylet, GCS, ...) before any actor")


def streaming(n: int, repeats: int) -> tuple:
    actor = Echo.remote("speaker")
    list(actor.stream.options(num_returns="streaming").remote(100))
    runs = []
    for _ in range(repeats):
        gen = actor.stream.options(num_returns="streaming").remote(n)
        first = None
        count = 0
        for ref in gen:
            item = ray.get(ref)
            if first is None:
                first = float(item.split("|", 1)[0])
            count += 1
        seconds = time.time() - first
        latencies = []
        for _ in range(100):
            gen = actor.stream.options(num_returns="streaming").remote(2)
            item = ray.get(next(gen))
            latencies.append(time.time() - float(item.split("|", 1)[0]))
            for ref in gen:
                ray.get(ref)
        stats = common.latency_stats(latencies)
        runs.append({"chunks_per_s": count / seconds, "first_chunk_ms": stats["p50_ms"],
                     "first_chunk_p99_ms": stats["p99_ms"], "none_lost": float(count == n)})
    return runs, f"actor generator method, num_returns='streaming', {n} one-character items"


def kill_detect(n: int, repeats: int) -> tuple:
    runs = []
    error = "nothing"
    for _ in range(repeats):
        actor = Echo.remote("victim")
        pid = ray.get(actor.pid.remote())
        ref = actor.sleep.remote(60)
        time.sleep(0.3)  # let the call start before killing the process
        os.kill(pid, signal.SIGKILL)
        start = common.now()
        try:
            ray.get(ref, timeout=common.DETECT_DEADLINE_S)
            runs.append({"detect_s": float("nan")})
        except ray.exceptions.GetTimeoutError:
            runs.append({"detect_s": common.DETECT_DEADLINE_S, "timed_out": 1.0})
            error = "nothing (timed out)"
        except Exception as err:  # pylint: disable=broad-except
            runs.append({"detect_s": common.now() - start})
            error = type(err).__name__
    return runs, f"SIGKILL of the actor's worker process during a pending call; raised {error}"


def sim10k(n: int, repeats: int) -> tuple:
    hosts = [Host.remote() for _ in range(4)]
    ray.get([h.create.remote("warm") for h in hosts])
    runs = []
    for r in range(repeats):
        names = [f"p{r}_{i}" for i in range(n)]
        start = common.now()
        for i, name in enumerate(names):
            ray.get(hosts[i % 4].create.remote(name))
        created = common.now() - start
        start = common.now()
        ray.get([hosts[i % 4].call.remote(name, TINY) for i, name in enumerate(names)], timeout=600)
        runs.append({"create_s": created, "round_s": common.now() - start})
    return runs, (f"{n} agents as objects in 4 host actors (10,000 actors would be 10,000 "
                  "worker processes), created one after another; one call each")


NA = {name: "paper_sim compares with AgentScope 0.1.6's own example (issue 12); Ray has no port of it"
      for name in common.PAPER_SIM}
WORKLOADS = {name: globals()[name] for name in common.WORKLOADS if name not in NA}

if __name__ == "__main__":
    threading.excepthook = lambda args: None  # Ray's own threads at exit are not ours
    common.main(WORKLOADS, na=NA, setup=setup, teardown=teardown)
