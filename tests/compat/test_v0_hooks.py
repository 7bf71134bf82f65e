"""Hooks as AgentScope 0.1.6 runs them (issue 9, item 11; DESIGN §6).

Both signatures -- the seed tutorial's `pre_reply(self, x)` and 0.1.6's
`pre_reply(self, args, kwargs)` / `post_reply(self, args, kwargs, output)`
-- chosen once per hook by its signature; every hook its own deep copy; the
same rules for a distributed agent's proxy (a real server on loopback).
"""
from __future__ import annotations

import copy

import pytest

from agentscope_rpc import speech
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.agents.hooks import Hook, hook_copy, run_pre_reply, run_pre_speak
from agentscope_rpc.message import Msg


class Friday(AgentBase):
    """Speaks what it gets and returns it (0.1.6's hook test agent)."""

    def __init__(self) -> None:
        super().__init__(name="Friday", use_memory=True)

    def reply(self, x=None):
        if x is not None:
            self.speak(x)
        return x


class Tagger(AgentBase):
    """Returns a new message saying what it got (for remote hooks)."""

    def reply(self, x=None):
        return Msg(self.name, f"got[{x.content if x is not None else None}]", "assistant")


@pytest.fixture(autouse=True)
def _clean():
    yield
    for klass in (AgentBase, Friday, Tagger):
        klass.clear_all_class_hooks()


def _spoken():
    """The final message of each speak call (what 0.1.6 logs), caught by a sink."""
    seen = []

    def sink(event):
        if event.ended:
            seen.append(event.msg)
        return True

    return seen, speech.bind_sinks(sink)


# -- 0.1.6's (args, kwargs) signatures ----------------------------------------------
def prefix_pre(prefix):
    def pre_reply_hook(self, args, kwargs):
        if args and isinstance(args[0], Msg):
            args[0].content = prefix + args[0].content
            return args, kwargs
        return None
    return pre_reply_hook


def mutate_only(self, args, kwargs):
    """Mutates its own copy and returns None: changes nothing."""
    if args:
        args[0].content = "-2, " + args[0].content


def suffix_post(self, args, kwargs, output):
    return Msg("assistant", output.content + ", 1", "assistant")


def test_v0_reply_hooks_chain_remove_and_clear():
    agent = Friday()
    msg = Msg("user", "0", "user")
    assert agent(msg).content == "0"
    agent.register_hook("pre_reply", "first", prefix_pre("-1, "))
    assert agent(msg).content == "-1, 0"
    agent.register_hook("post_reply", "post", suffix_post)
    assert agent(msg).content == "-1, 0, 1"
    agent.register_hook("pre_reply", "second", prefix_pre("-1, "))
    assert agent(msg).content == "-1, -1, 0, 1"
    agent.remove_hook("pre_reply", "first")
    assert agent(msg).content == "-1, 0, 1"
    agent.remove_hook("post_reply", "post")
    assert agent(msg).content == "-1, 0"
    agent.clear_hooks("pre_reply")
    assert agent(msg).content == "0"
    # change -> mutate-and-return-None -> change: the middle hook changes nothing
    agent.register_hook("pre_reply", "first", prefix_pre("-1, "))
    agent.register_hook("pre_reply", "second", mutate_only)
    agent.register_hook("pre_reply", "third", prefix_pre("-1, "))
    assert agent(msg).content == "-1, -1, 0"
    assert msg.content == "0"  # the caller's message was never touched
    assert agent() is None  # no input: hooks see empty args and return None


def test_v0_pre_reply_sees_keyword_arguments():
    agent = Friday()
    seen = []

    def hook(self, args, kwargs):
        seen.append((args, sorted(kwargs)))
        return (), {"x": Msg("hook", "from kwargs", "user")}

    agent.register_hook("pre_reply", "kw", hook)
    assert agent(x=Msg("user", "a", "user")).content == "from kwargs"
    assert seen == [((), ["x"])]


def test_v0_pre_reply_returning_garbage_is_a_clear_error():
    agent = Friday()
    agent.register_hook("pre_reply", "bad", lambda self, args, kwargs: Msg("u", "not a pair", "user"))
    with pytest.raises(TypeError, match=r"pre_reply hook 'bad' takes \(self, args, kwargs\).*Msg"):
        agent(Msg("user", "0", "user"))


def test_v0_post_reply_gets_the_arguments_after_pre_hooks():
    agent = Friday()
    got = []
    agent.register_hook("pre_reply", "pre", prefix_pre("p:"))
    agent.register_hook("post_reply", "post", lambda self, args, kwargs, output: got.append(args[0].content))
    agent(Msg("user", "0", "user"))
    assert got == ["p:0"]


def test_class_and_object_reply_hooks_order_and_scope():
    one, two = Friday(), Friday()
    AgentBase.register_class_hook("pre_reply", "cls", prefix_pre("-2, "))
    one.register_hook("pre_reply", "obj", prefix_pre("-1, "))
    assert one(Msg("user", "0", "user")).content == "-2, -1, 0"  # object first, then class
    assert two(Msg("user", "0", "user")).content == "-2, 0"
    AgentBase.clear_all_class_hooks()
    AgentBase.register_class_hook("post_reply", "a", suffix_post)
    one.register_hook("post_reply", "b", lambda self, a, k, out: Msg("assistant", out.content + ", 0", "assistant"))
    one.clear_hooks("pre_reply")
    assert one(Msg("user", "x", "user")).content == "x, 0, 1"


# -- speak and observe (same signature in both) -------------------------------------
def test_speak_hooks_change_what_is_shown_not_the_reply():
    agent = Friday()
    agent.register_hook("pre_speak", "1", lambda self, msg, stream, last: Msg(msg.name, "-1, " + msg.content, "assistant"))

    def second(self, msg, stream, last):
        msg.content = "-2, " + msg.content  # its own copy
        return msg

    agent.register_hook("pre_speak", "2", second)
    agent.register_hook("pre_speak", "3", lambda self, msg, stream, last: None)
    counts = []
    agent.register_hook("post_speak", "p1", lambda self: counts.append(1))
    agent.register_hook("post_speak", "p2", lambda self: counts.append(2))
    shown, bound = _spoken()
    with bound:
        reply = agent(Msg("user", "0", "user"))
    assert reply.content == "0"
    assert [m.content for m in shown] == ["-2, -1, 0"]
    assert counts == [1, 2]


def test_class_and_object_speak_hooks():
    one, two = Friday(), Friday()

    def change(prefix):
        return lambda self, msg, stream, last: Msg(msg.name, prefix + msg.content, "assistant")

    AgentBase.register_class_hook("pre_speak", "cls", change("-1, "))
    one.register_hook("pre_speak", "obj", change("-2, "))
    shown, bound = _spoken()
    with bound:
        one(Msg("user", "0", "user"))
        two(Msg("user", "0", "user"))
    assert [m.content for m in shown] == ["-1, -2, 0", "-1, 0"]


def test_observe_hooks_and_post_observe_with_either_signature():
    agent = Friday()
    agent.observe(Msg("user", "0", "user"))
    agent.register_hook("pre_observe", "change", lambda self, x: Msg(x.name, "-1, " + x.content, "user"))

    def no_change(self, x):
        x.content = "-2, " + x.content

    agent.register_hook("pre_observe", "no_change", no_change)
    calls = []
    agent.register_hook("post_observe", "plain", lambda self: calls.append("self"))
    agent.register_hook("post_observe", "with_x", lambda self, x: calls.append(x.content))
    agent.observe(Msg("user", "0", "user"))
    assert [m.content for m in agent.memory.get_memory()] == ["0", "-1, 0"]
    assert calls == ["self", "-1, 0"]


# -- the seed tutorial's signatures, mixed with 0.1.6's -------------------------------
def test_seed_and_v0_hooks_in_one_chain():
    agent = Friday()
    agent.register_hook("pre_reply", "seed", lambda self, x: Msg(x.name, "s:" + x.content, "user"))
    agent.register_hook("pre_reply", "v0", prefix_pre("v:"))
    agent.register_hook("post_reply", "seed_post", lambda self, x: Msg(x.name, x.content + ":S", "assistant"))
    agent.register_hook("post_reply", "v0_post", lambda self, args, kwargs, output: Msg("a", output.content + ":V", "assistant"))
    assert agent(Msg("user", "0", "user")).content == "v:s:0:S:V"


@pytest.mark.parametrize("func, v0", [
    (lambda self, x: None, False),
    (lambda self, x, extra=None: None, False),      # defaults do not make it 0.1.6's
    (lambda self, args, kwargs: None, True),
    (lambda self, args, kwargs=None: None, True),   # the second parameter is named args
    (lambda *a: None, True),
    (lambda self, *a: None, True),
])
def test_signature_is_read_once_at_registration(func, v0):
    assert Hook("pre_reply", "h", func).takes_args_kwargs is v0


def test_post_reply_signature_detection():
    assert Hook("post_reply", "h", lambda self, x: None).takes_args_kwargs is False
    assert Hook("post_reply", "h", lambda self, args, kwargs, output: None).takes_args_kwargs is True
    assert Hook("post_reply", "h", lambda self, args, kwargs, out=None: None).takes_args_kwargs is True


def test_bound_methods_and_callable_objects_work_as_hooks():
    class Counter:
        def __init__(self):
            self.seen = []

        def hook(self, agent, args, kwargs):
            self.seen.append(args[0].content)

        def __call__(self, agent, x):
            self.seen.append("call:" + x.content)

    counter = Counter()
    agent = Friday()
    agent.register_hook("pre_reply", "method", counter.hook)
    agent.register_hook("pre_reply", "object", counter)
    agent(Msg("user", "0", "user"))
    assert counter.seen == ["0", "call:0"]


# -- copies -------------------------------------------------------------------------------
def test_each_pre_hook_gets_its_own_deep_copy():
    agent = Friday()
    received = []

    def keep(self, x):
        received.append(x)
        x.metadata["seen"] = len(received)  # mutate the copy

    agent.register_hook("pre_reply", "a", keep)
    agent.register_hook("pre_reply", "b", keep)
    msg = Msg("user", "0", "user", metadata={"seen": 0})
    assert agent(msg) is msg  # nobody returned anything: the original goes on
    assert received[0] is not received[1] and received[0] is not msg
    assert msg.metadata == {"seen": 0}


def test_a_replacement_is_copied_for_the_next_hook_too():
    agent = Friday()
    replacement = Msg("hook", "r", "user", metadata={"n": 0})
    later = []
    agent.register_hook("pre_reply", "replace", lambda self, x: replacement)

    def mutate(self, x):
        later.append(x)
        x.metadata["n"] = 99

    agent.register_hook("pre_reply", "mutate", mutate)
    result = agent(Msg("user", "0", "user"))
    assert result is replacement and replacement.metadata == {"n": 0}
    assert later[0] is not replacement


def test_placeholders_and_agents_inside_arguments_are_shared_not_copied():
    class FakePlaceholder:
        __agentscope_ref__ = True  # what marks a placeholder

        def __deepcopy__(self, memo):  # copying one would wait for its value
            raise AssertionError("a placeholder was deep-copied")

    placeholder, other = FakePlaceholder(), Friday()
    copied = hook_copy(((placeholder, other, Msg("u", "m", "user")), {"x": [placeholder]}))
    (items, kwargs) = copied
    assert items[0] is placeholder and items[1] is other and kwargs["x"][0] is placeholder
    assert hook_copy(placeholder) is placeholder


def test_no_hooks_no_copies():
    """Without hooks a runner passes the very objects on (no deepcopy, nothing built)."""
    agent = Friday()
    args, kwargs = (Msg("user", "0", "user"),), {}
    out_args, out_kwargs = run_pre_reply(agent, args, kwargs)
    assert out_args is args and out_kwargs is kwargs
    msg = Msg("a", "b", "assistant")
    assert run_pre_speak(agent, msg, True, False) is msg

    class Uncopyable(Msg):
        __slots__ = ()

        def __deepcopy__(self, memo):
            raise AssertionError("copied although no hook is registered")

    agent(Uncopyable("user", "0", "user"))


def test_streamed_chunks_reach_pre_speak_as_the_growing_message():
    agent = Friday()
    seen = []
    agent.register_hook("pre_speak", "rec", lambda self, msg, stream, last: seen.append((msg.content, stream, last)))
    spoken = agent.speak((last, text) for last, text in [(False, "a"), (False, "ab"), (True, "abc")])
    assert seen == [("a", True, False), ("ab", True, False), ("abc", True, True)]
    assert spoken.content == "abc"


def test_class_hook_changes_are_seen_at_once():
    agent = Friday()
    agent(Msg("user", "warm the cache", "user"))
    Friday.register_class_hook("pre_reply", "late", prefix_pre("late:"))
    assert agent(Msg("user", "0", "user")).content == "late:0"
    Friday.remove_class_hook("pre_reply", "late")
    assert agent(Msg("user", "0", "user")).content == "0"
    copy.deepcopy(Friday.__dict__["_class_hooks"])  # registries copy (and pickle) empty


# -- on a distributed agent's proxy (hooks run here, in the orchestrator) ------------------
def test_v0_hooks_on_a_proxy(module_server):
    agent = Tagger("remote", to_dist=module_server.options)
    agent.register_hook("pre_reply", "v0_pre", prefix_pre("pre:"))
    agent.register_hook("post_reply", "v0_post", lambda self, args, kwargs, output:
                        Msg(output.name, f"{output.content}+post({args[0].content})", "assistant"))
    original = Msg("user", "0", "user")
    reply = agent(original).result(timeout=30)
    assert reply.content == "got[pre:0]+post(pre:0)"
    assert original.content == "0"


def test_seed_hooks_on_a_proxy_and_class_hooks_of_the_remote_class(module_server):
    agent = Tagger("remote2", to_dist=module_server.options)
    Tagger.register_class_hook("pre_reply", "cls", lambda self, x: Msg(x.name, "cls:" + x.content, "user"))
    agent.register_hook("pre_reply", "obj", lambda self, x: Msg(x.name, "obj:" + x.content, "user"))
    assert agent(Msg("user", "0", "user")).result(timeout=30).content == "got[cls:obj:0]"
