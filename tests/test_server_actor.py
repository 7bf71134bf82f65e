"""The actor alone (server/actor.py): one mailbox, construction first, one job at a time.

The runner here runs jobs inline (the actor's `Runner` protocol is its whole
interface to the server), so what is tested is the mailbox's own logic:
order, waiting for placeholders, a failed construction failing what queued
behind it, and failing the queue on deletion.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable

from agentscope_rpc.exception import AgentCreationError
from agentscope_rpc.server.actor import Actor, Construction


class _Call:
    def __init__(self, name: str, ready: bool = True) -> None:
        self.name = name
        self._ready = ready
        self.failed: Any = None

    def ready(self) -> bool:
        return self._ready


class InlineRunner:
    """Runs an actor's jobs at once, on the calling thread; records what ran."""

    def __init__(self) -> None:
        self.ran: list = []
        self.waiting: list = []  # (call, then) whose placeholders are not ready
        self.deferred: list = []  # runs not finished yet, when `hold` is set
        self.hold = False

    def run_sync(self, actor: Actor, jobs: deque, on_end: Callable[[], None]) -> None:
        def finish() -> None:
            while jobs:
                job = jobs.popleft()
                if isinstance(job, Construction):
                    try:
                        obj, error = job.build(), None
                    except Exception as err:  # pylint: disable=broad-except
                        obj, error = None, err
                    actor.built(obj, error)
                    job.on_built(actor, obj, error)
                else:
                    self.ran.append(job.name)
            on_end()

        if self.hold:
            self.deferred.append(finish)
        else:
            finish()

    def run_async(self, actor: Actor, call: Any, on_end: Callable[[], None]) -> None:
        self.ran.append(f"async:{call.name}")
        on_end()

    def is_async(self, obj: Any, call: Any) -> bool:
        return call.name.startswith("a-")

    def when_ready(self, call: Any, then: Callable[[], None]) -> None:
        self.waiting.append((call, then))

    def fail(self, call: Any, error: BaseException) -> None:
        call.failed = error
        self.ran.append(f"failed:{call.name}")


def _built(log: list) -> Construction:
    return Construction(lambda: "the object", lambda actor, obj, error: log.append((obj, error)))


def test_construction_first_then_calls_in_order():
    runner, log = InlineRunner(), []
    actor = Actor("a1", runner)
    runner.hold = True  # the construction takes a while: calls queue behind it
    actor.submit(_built(log))
    for name in ("c1", "c2", "a-c3", "c4"):
        actor.submit(_Call(name))
    assert runner.ran == [] and actor.busy
    runner.hold = False
    runner.deferred.pop()()  # the construction ends: the queue runs, in order
    assert log == [("the object", None)] and actor.obj == "the object"
    assert runner.ran == ["c1", "c2", "async:a-c3", "c4"]
    assert not actor.busy and actor.queued == 0


def test_a_call_waiting_for_placeholders_holds_the_calls_behind_it():
    runner = InlineRunner()
    actor = Actor("a2", runner)
    actor.submit(_built([]))
    waiting = _Call("needs-a-placeholder", ready=False)
    actor.submit(waiting)
    actor.submit(_Call("after"))
    assert runner.ran == [] and len(runner.waiting) == 1
    waiting._ready = True  # pylint: disable=protected-access
    runner.waiting.pop()[1]()
    assert runner.ran == ["needs-a-placeholder", "after"]


def test_a_failed_construction_fails_every_call_behind_it():
    runner, log = InlineRunner(), []
    actor = Actor("a3", runner)
    runner.hold = True

    def explode() -> Any:
        raise RuntimeError("constructor exploded")

    actor.submit(Construction(explode, lambda actor, obj, error: log.append(error)))
    calls = [_Call(f"c{i}") for i in range(3)]
    for call in calls:
        actor.submit(call)
    runner.hold = False
    runner.deferred.pop()()
    assert isinstance(log[0], RuntimeError)
    assert runner.ran == ["failed:c0", "failed:c1", "failed:c2"]
    assert all(isinstance(c.failed, AgentCreationError) and "constructor exploded" in str(c.failed) for c in calls)
    late = _Call("late")
    actor.submit(late)  # a call arriving after the failure fails too
    assert isinstance(late.failed, AgentCreationError)


def test_fail_all_takes_exactly_the_calls_not_started():
    runner = InlineRunner()
    actor = Actor("a4", runner)
    actor.submit(_built([]))
    runner.hold = True
    actor.submit(_Call("running"))
    actor.submit(_Call("queued-1"))
    actor.submit(_Call("queued-2"))
    failed = actor.fail_all(RuntimeError("deleted"))
    assert [c.name for c in failed] == ["running", "queued-1", "queued-2"]  # the run was not started yet
    runner.deferred.pop()()  # the worker finds its run empty
    assert runner.ran == ["failed:running", "failed:queued-1", "failed:queued-2"]


def test_shutdown_before_the_construction_started_answers_its_creator():
    runner, log = InlineRunner(), []
    actor = Actor("a5", runner)
    runner.hold = True  # handed to a worker that has not started it
    actor.submit(_built(log))
    queued = _Call("queued")
    actor.submit(queued)
    actor.fail_all(RuntimeError("the server is stopping"))
    assert [str(err) for _, err in log] == ["the server is stopping"]  # the creator hears, and is not left waiting
    assert queued.failed is not None and actor.error is not None
    runner.deferred.pop()()  # the worker finds its run empty: nothing is built after all
    assert log[1:] == [] and actor.obj is None
