"""Fuzzing a real agent server: randomized requests over every RPC, with and without a token.

`REQUESTS["agent"]` requests (10,000) to the agent service, and 1,000 to
the health service beside it, go to one server from `WORKERS` threads
within `TIME_LIMIT_S`: random bytes, protobuf messages of the
method's request type with random field values (agent ids, method names,
modules and payloads drawn from values that reach deep into the server:
real agent ids, private method names, `__main__` modules, pickles of
random bytes, JSON of the wrong shape, references to closed ports) and
mutations of valid requests.  The agent RPCs are read from the proto's
service descriptor, so new ones are fuzzed too.

Asserts: no request ends UNKNOWN or INTERNAL (an unhandled server error);
every tokenless request ends UNAUTHENTICATED; the server process is alive
afterwards and answers a normal call correctly.  `FUZZ_SEED=<n>` replays a
run (the seed is in every failure message).
"""
from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import pickle
import random
import string
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2

import raw_wire as raw
from agentscope_rpc.message import Msg
from agentscope_rpc.rpc._proto import agent_server_pb2 as pb
from dist_agents import Tally

pytestmark = pytest.mark.timeout(400)

REQUESTS = {"agent": 10_000, "health": 1_000}
WORKERS = 8
TIME_LIMIT_S = 150.0
DEADLINE_S = 1.0  # a fetch of an unknown task waits the server's grace (0.2 s here)
SEED = int(os.environ.get("FUZZ_SEED", random.SystemRandom().randrange(1 << 30)))
FORBIDDEN = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
NEVER_WITH_TOKEN = ("StopServer", "DeleteAllAgents")  # they would end the run itself, not test it
HEALTH = {"grpc.health.v1.Health/Check": "unary", "grpc.health.v1.Health/Watch": "server_stream"}

METHOD_NAMES = ["reply", "observe", "bump", "__call__", "_secret", "__init__", "__class__", "__reduce__",
                "delete", "speak", "memory", "", "x" * 300]
MODULES = ["", "dist_agents", "os", "json", "agentscope_rpc.agents", "venv.__main__", "unittest.__main__",
           "fault_exit_on_import", "no.such.module", "__main__", "builtins"]
CLASS_NAMES = ["Tally", "AgentBase", "Msg", "system", "Tally.bump", "", "__class__", "NoSuchAgent"]


class Fuzzer:
    """Random request bodies for one worker thread (its own Random)."""

    def __init__(self, seed: int, agent_id: str) -> None:
        self.rng = random.Random(seed)
        self.agent_id = agent_id

    # -- scalar values ------------------------------------------------------------
    def text(self) -> str:
        r = self.rng.random()
        if r < 0.2:
            return ""
        if r < 0.3:
            return "".join(self.rng.choice("\u00e9\u4e2d\U0001f600\x00") for _ in range(self.rng.randint(1, 8)))
        if r < 0.35:
            return self.rng.choice(string.ascii_letters) * self.rng.randint(100, 20_000)
        return "".join(self.rng.choice(string.printable) for _ in range(self.rng.randint(1, 40)))

    def blob(self) -> bytes:
        return self.rng.randbytes(self.rng.choice([0, 1, 7, 64, 512, 4096]))

    def json_doc(self) -> bytes:
        docs = [
            {"a": [None], "k": {}},
            {"a": [{"__type": "Msg", "name": "fuzz", "content": "x", "role": "user"}], "k": {}},
            {"a": [{"__type": "Msg", "name": 3, "content": {"__type": "Msg"}}], "k": {"x": []}},
            {"a": [{"__type": "Ref", "host": "127.0.0.1", "port": 1, "task_id": "nope"}], "k": {}},
            {"a": [{"__type": "Ref", "port": "x"}], "k": {}},
            {"a": 5, "k": []},
            [1, 2, 3],
            {"k": {}},
            {"a": ["fuzz-name"], "k": {"unexpected": 1}},
        ]
        r = self.rng.random()
        if r < 0.7:
            return json.dumps(self.rng.choice(docs)).encode()
        if r < 0.85:
            return b'{"a": [' * self.rng.randint(1, 5000)  # deep or truncated
        return self.blob()

    def payload(self) -> pb.Payload:
        kind = self.rng.choice([pb.Payload.NONE, pb.Payload.JSON, pb.Payload.JSON, pb.Payload.PICKLE, 7])
        if kind == pb.Payload.PICKLE:
            data = pickle.dumps(((), {})) if self.rng.random() < 0.2 else self.blob()
        elif kind == pb.Payload.JSON:
            data = self.json_doc()
        else:
            data = self.blob()
        return pb.Payload(kind=kind, data=data)

    # -- messages -------------------------------------------------------------------
    def special(self, name: str, method: str):
        """A value for a field whose name says what it means, or None."""
        rng = self.rng
        if name == "agent_id":
            if method == "DeleteAgent":
                return self.text()  # never delete the anchor agent
            return self.agent_id if rng.random() < 0.5 else self.text()
        if name == "method":
            return rng.choice(METHOD_NAMES)
        if name == "module":
            return rng.choice(MODULES)
        if name == "class_name":
            return rng.choice(CLASS_NAMES)
        if name == "task_id":
            return rng.choice([raw.new_task_id(), "", "t" * 65, self.text()])
        if name in ("model_configs", "memory"):
            return rng.choice(["", "[]", "{}", "[{}]", '[{"config_name": 1}]', self.text()])
        if name == "class_blob":
            return self.blob()
        return None

    def message(self, cls, method: str, depth: int = 0):
        msg = cls()
        for field in cls.DESCRIPTOR.fields:
            if self.rng.random() < 0.35:
                continue
            repeated = getattr(field, "is_repeated", None)
            if repeated is None:
                repeated = field.label == field.LABEL_REPEATED
            count = self.rng.randint(0, 3) if repeated else 1
            for _ in range(count):
                value = self.value(field, method, depth)
                if value is None:
                    continue
                if repeated:
                    if field.type == field.TYPE_MESSAGE:
                        getattr(msg, field.name).add().CopyFrom(value)
                    else:
                        getattr(msg, field.name).append(value)
                elif field.type == field.TYPE_MESSAGE:
                    getattr(msg, field.name).CopyFrom(value)
                else:
                    setattr(msg, field.name, value)
        return msg

    def value(self, field, method: str, depth: int):
        special = self.special(field.name, method)
        if special is not None and field.type == field.TYPE_STRING:
            return special
        if special is not None and field.type == field.TYPE_BYTES:
            return special if isinstance(special, bytes) else special.encode()
        t = field.type
        if t == field.TYPE_MESSAGE:
            if depth > 3:
                return None
            if field.message_type.name == "Payload":
                return self.payload()
            return self.message(getattr(pb, field.message_type.name), method, depth + 1)
        if t == field.TYPE_STRING:
            return self.text()
        if t == field.TYPE_BYTES:
            return self.blob()
        if t == field.TYPE_BOOL:
            return self.rng.random() < 0.5
        if t in (field.TYPE_INT32, field.TYPE_SINT32, field.TYPE_SFIXED32):
            return self.rng.choice([0, -1, 1, 2**31 - 1, -(2**31)])
        if t in (field.TYPE_INT64, field.TYPE_SINT64, field.TYPE_SFIXED64):
            return self.rng.choice([0, -1, 1, 2**63 - 1, -(2**63)])
        if t in (field.TYPE_UINT32, field.TYPE_FIXED32):
            return self.rng.choice([0, 1, 2**32 - 1])
        if t in (field.TYPE_UINT64, field.TYPE_FIXED64):
            return self.rng.choice([0, 1, 2**64 - 1])
        if t in (field.TYPE_DOUBLE, field.TYPE_FLOAT):
            return self.rng.choice([0.0, -1.5, 1e308, float("nan")])
        if t == field.TYPE_ENUM:
            return self.rng.choice([0, 1, 2, 99])
        return None

    def mutate(self, data: bytes) -> bytes:
        data = bytearray(data)
        for _ in range(self.rng.randint(1, 8)):
            op = self.rng.random()
            if op < 0.4 and data:
                data[self.rng.randrange(len(data))] = self.rng.randrange(256)
            elif op < 0.6 and data:
                del data[self.rng.randrange(len(data)):]
            else:
                data[self.rng.randrange(len(data) + 1):0] = self.rng.randbytes(self.rng.randint(1, 16))
        return bytes(data)

    def bodies(self, request_class, method: str, streaming: bool) -> list:
        """One body (or a few frames for a client-streaming RPC)."""
        def one() -> bytes:
            r = self.rng.random()
            if r < 0.15:
                return self.blob()
            valid = self.message(request_class, method).SerializeToString()
            return self.mutate(valid) if r < 0.35 else valid

        return [one() for _ in range(self.rng.randint(1, 4))] if streaming else [one()]


def rpc_table(service: str) -> list:
    """(path, kind, request class) of every RPC of `service` ("agent" or "health")."""
    if service == "health":
        return [(f"/{path}", kind, health_pb2.HealthCheckRequest) for path, kind in HEALTH.items()]
    return [(f"/{raw.SERVICE}/{name}", kind, cls) for name, (kind, cls) in raw.rpc_methods().items()]


def send(channel: grpc.Channel, path: str, kind: str, bodies: list, token) -> grpc.StatusCode:
    metadata = raw.auth_metadata(token)
    deadline = 0.3 if path.endswith("/Watch") else DEADLINE_S  # a valid Watch never ends by itself
    try:
        if kind == "unary":
            channel.unary_unary(path)(bodies[0], metadata=metadata, timeout=deadline)
        elif kind == "server_stream":
            for _ in channel.unary_stream(path)(bodies[0], metadata=metadata, timeout=deadline):
                pass
        elif kind == "client_stream":
            channel.stream_unary(path)(iter(bodies), metadata=metadata, timeout=deadline)
        else:
            for _ in channel.stream_stream(path)(iter(bodies), metadata=metadata, timeout=deadline):
                pass
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("service", ["agent", "health"])
def test_fuzz_every_rpc_then_serve_normally(server_factory, service):
    server = server_factory(unknown_task_grace=0.2)
    anchor = Tally("anchor", to_dist=server.options)
    table = rpc_table(service)
    target = raw.Target.of(server)
    channel = target.channel()
    counts: collections.Counter = collections.Counter()
    bad: list = []
    lock = threading.Lock()
    deadline = time.monotonic() + TIME_LIMIT_S
    per_worker = -(-REQUESTS[service] // WORKERS)

    def worker(index: int) -> None:
        fuzzer = Fuzzer(SEED + index, anchor.agent_id)
        for _ in range(per_worker):
            if time.monotonic() > deadline:
                return
            path, kind, request_class = fuzzer.rng.choice(table)
            with_token = fuzzer.rng.random() < 0.5 and path.rsplit("/", 1)[-1] not in NEVER_WITH_TOKEN
            bodies = fuzzer.bodies(request_class, path.rsplit("/", 1)[-1], kind in ("client_stream", "bidi"))
            code = send(channel, path, kind, bodies, server.token if with_token else None)
            with lock:
                counts[(path.rsplit("/", 1)[-1], with_token, code.name)] += 1
                if code in FORBIDDEN or (not with_token and code != grpc.StatusCode.UNAUTHENTICATED):
                    bad.append((path, with_token, code.name, bodies[0][:80]))

    started = time.monotonic()
    try:
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(worker, range(WORKERS)))
        took = time.monotonic() - started
        total = sum(counts.values())
        summary = f"seed {SEED}: {total} requests in {took:.0f}s; " + ", ".join(
            f"{m}/{'tok' if t else 'anon'}/{c}={n}" for (m, t, c), n in sorted(counts.items()))
        assert not bad, f"{len(bad)} bad outcomes, first {bad[:5]}; {summary}"
        assert total >= REQUESTS[service], f"only {total} requests within {TIME_LIMIT_S}s; {summary}"
        assert server.process.poll() is None, f"the server died; {summary}"
        assert raw.server_info(target).pid == server.pid
    finally:
        target.close()
    after = Tally("after-fuzz", to_dist=server.options)
    assert after(Msg("user", "hi", "user")).result(timeout=30).content == 1
    assert after(None).result(timeout=30).content == 2
