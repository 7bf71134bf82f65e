"""Pipelines: control flow of each class and functional form."""
import pytest

from agentscope_rpc import runtime, speech
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg
from agentscope_rpc.pipelines import (
    ForLoopPipeline,
    IfElsePipeline,
    PipelineBase,
    SequentialPipeline,
    SwitchPipeline,
    WhileLoopPipeline,
    forlooppipeline,
    ifelsepipeline,
    placeholder,
    sequentialpipeline,
    switchpipeline,
    whilelooppipeline,
)


class Counter:
    """An operator that appends its tag and counts its calls."""

    def __init__(self, tag):
        self.tag = tag
        self.calls = 0

    def __call__(self, x=None):
        self.calls += 1
        return (x or "") + self.tag


class Adder(AgentBase):
    """An agent operator: adds 1 to an int content."""

    def reply(self, x=None):
        return Msg(self.name, (x.content if x is not None else 0) + 1)


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setattr(runtime.default(), "_printer", None)


def test_placeholder_returns_input():
    sentinel = object()
    assert placeholder(sentinel) is sentinel
    assert placeholder() is None


# -- sequential -------------------------------------------------------------
def test_sequential_functional_and_class():
    a, b, c = Counter("a"), Counter("b"), Counter("c")
    assert sequentialpipeline([a, b, c], ">") == ">abc"
    assert SequentialPipeline([a, b, c])(">") == ">abc"
    assert (a.calls, b.calls, c.calls) == (2, 2, 2)


def test_sequential_default_x_is_none():
    seen = []
    sequentialpipeline([lambda x: seen.append(x)])
    assert seen == [None]


def test_sequential_with_agents_and_nested_pipeline():
    agents = [Adder(f"a{i}") for i in range(3)]
    inner = SequentialPipeline(agents[1:])
    res = sequentialpipeline([agents[0], inner], Msg("u", 10))
    assert res.content == 13


def test_sequential_nested_operator_list():
    a, b, c = Counter("a"), Counter("b"), Counter("c")
    assert sequentialpipeline([a, [b, c], a], "") == "abca"


def test_sequential_empty_raises():
    with pytest.raises(ValueError):
        sequentialpipeline([])
    with pytest.raises(ValueError):
        SequentialPipeline([])


def test_sequential_passes_results_untouched():
    """Whatever an operator returns (e.g. a placeholder) goes to the next as is."""
    token = object()
    received = []
    sequentialpipeline([lambda x: token, received.append])
    assert received[0] is token


# -- if/else ------------------------------------------------------------------
@pytest.mark.parametrize("cond, expected", [(True, "xif"), (False, "xelse")])
def test_ifelse(cond, expected):
    if_op, else_op = Counter("if"), Counter("else")
    seen = []

    def condition(x):
        seen.append(x)
        return cond

    assert ifelsepipeline(condition, if_op, else_op, "x") == expected
    assert IfElsePipeline(condition, if_op, else_op)("x") == expected
    assert seen == ["x", "x"]
    assert (if_op.calls, else_op.calls) == ((2, 0) if cond else (0, 2))


def test_ifelse_default_else_is_placeholder():
    if_op = Counter("if")
    assert ifelsepipeline(lambda x: False, if_op, x="x") == "x"
    assert IfElsePipeline(lambda x: False, if_op)("x") == "x"
    assert if_op.calls == 0


def test_ifelse_operator_lists():
    a, b = Counter("a"), Counter("b")
    assert ifelsepipeline(lambda x: True, [a, b], [b], "") == "ab"
    assert IfElsePipeline(lambda x: False, [a, b], [b, b])("") == "bb"


# -- switch ---------------------------------------------------------------------
def test_switch_selects_case():
    cases = {"x": Counter("X"), "y": Counter("Y")}
    default = Counter("D")
    assert switchpipeline(lambda x: x[0], cases, default, "y?") == "y?Y"
    assert SwitchPipeline(lambda x: x[0], cases, default)("x?") == "x?X"
    assert (cases["x"].calls, cases["y"].calls, default.calls) == (1, 1, 0)


def test_switch_default_case():
    cases = {"x": Counter("X")}
    default = Counter("D")
    assert switchpipeline(lambda x: "nope", cases, default, "q") == "qD"
    assert SwitchPipeline(lambda x: "nope", cases, default)("q") == "qD"
    assert default.calls == 2 and cases["x"].calls == 0


def test_switch_default_is_placeholder():
    assert switchpipeline(lambda x: 3, {1: Counter("1")}, x="in") == "in"
    assert SwitchPipeline(lambda x: 3, {1: Counter("1")})("in") == "in"


def test_switch_case_operator_list():
    a, b = Counter("a"), Counter("b")
    assert switchpipeline(lambda x: 1, {1: [a, b, a]}, x="") == "aba"


# -- for loop -------------------------------------------------------------------
def test_forloop_runs_max_loop_times():
    body = Counter("+")
    assert forlooppipeline(body, 4, x="") == "++++"
    assert ForLoopPipeline(body, 3)("") == "+++"
    assert body.calls == 7


def test_forloop_break_checked_after_each_iteration():
    body = Counter("+")
    seen = []

    def stop(x):
        seen.append(x)
        return len(x) >= 2

    assert forlooppipeline(body, 10, stop, "") == "++"
    assert seen == ["+", "++"]
    assert ForLoopPipeline(body, 10, break_func=stop)("") == "++"
    assert body.calls == 4


def test_forloop_break_immediately_still_runs_body_once():
    body = Counter("+")
    assert forlooppipeline(body, 5, lambda x: True, "") == "+"


def test_forloop_zero_iterations():
    body = Counter("+")
    assert forlooppipeline(body, 0, x="in") == "in"
    assert body.calls == 0


def test_forloop_operator_list_and_agents():
    agents = [Adder("a"), Adder("b")]
    res = ForLoopPipeline(agents, 3)(Msg("u", 0))
    assert res.content == 6
    res = forlooppipeline(agents, 10, lambda m: m.content >= 4, Msg("u", 0))
    assert res.content == 4


# -- while loop -----------------------------------------------------------------
def test_while_condition_gets_index_and_x():
    body = Counter("+")
    seen = []

    def cond(i, x):
        seen.append((i, x))
        return i < 3

    assert whilelooppipeline(body, cond, "") == "+++"
    assert seen == [(0, ""), (1, "+"), (2, "++"), (3, "+++")]
    assert body.calls == 3


def test_while_class_form():
    body = Counter("+")
    assert WhileLoopPipeline(body, lambda i, x: len(x) < 5)("") == "+++++"


def test_while_false_condition_never_runs_body():
    body = Counter("+")
    assert whilelooppipeline(body, lambda i, x: False, "in") == "in"
    assert whilelooppipeline(body, x="in") == "in"  # default: never loops
    assert WhileLoopPipeline(body)("in") == "in"
    assert body.calls == 0


def test_while_operator_list():
    a, b = Counter("a"), Counter("b")
    assert whilelooppipeline([a, b], lambda i, x: i < 2, "") == "abab"


# -- composition ----------------------------------------------------------------
def test_pipelines_are_operators_of_each_other():
    inc = Counter("+")
    loop = ForLoopPipeline(inc, 2)
    branch = IfElsePipeline(lambda x: x.startswith("go"), loop, Counter("-"))
    pipe = SequentialPipeline([branch, WhileLoopPipeline(inc, lambda i, x: len(x) < 6)])
    assert pipe("go") == "go++++"
    assert pipe("no") == "no-+++"


def test_pipeline_base():
    assert PipelineBase().participants == []
    with pytest.raises(NotImplementedError):
        PipelineBase()(None)

    class Twice(PipelineBase):
        def __init__(self, op):
            super().__init__()
            self.participants = [op]

        def __call__(self, x=None):
            return self.participants[0](self.participants[0](x))

    assert SequentialPipeline([Twice(Counter("t"))])("") == "tt"


def test_participants():
    a, b, c = Counter("a"), Counter("b"), Counter("c")
    assert SequentialPipeline([a, b]).participants == [a, b]
    assert IfElsePipeline(bool, a, b).participants == [a, b]
    assert SwitchPipeline(bool, {1: a, 2: b}, c).participants == [a, b, c]
    assert ForLoopPipeline(a, 2).participants == [a]
    assert WhileLoopPipeline(b).participants == [b]
