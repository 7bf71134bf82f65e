"""The public surface (DESIGN §3), pinned: changes here are API changes."""
import importlib

import pytest

import agentscope_rpc
from agentscope_rpc import exception


def _module(name):
    return importlib.import_module(name)


@pytest.mark.parametrize(
    "module, names",
    [
        ("agentscope_rpc", {"init", "Msg", "__version__"}),
        ("agentscope_rpc.message", {"Msg", "content_text"}),
        (
            "agentscope_rpc.pipelines",
            {
                "PipelineBase",
                "SequentialPipeline",
                "IfElsePipeline",
                "SwitchPipeline",
                "ForLoopPipeline",
                "WhileLoopPipeline",
                "sequentialpipeline",
                "ifelsepipeline",
                "switchpipeline",
                "forlooppipeline",
                "whilelooppipeline",
                "placeholder",
            },
        ),
        ("agentscope_rpc.msghub", {"msghub", "MsgHubManager"}),
        (
            "agentscope_rpc.exception",
            {
                "AgentScopeRpcError",
                "ModelConfigError",
                "ModelCallError",
                "ResponseParsingError",
                "AgentCreationError",
                "AgentNotFoundError",
                "AgentServerError",
                "AuthenticationError",
                "MessageTooLargeError",
                "AgentServerNotAliveError",
                "AgentCallError",
                "StreamError",
                "StreamTimeoutError",
                "StreamCancelledError",
                "RemoteSpeakError",
                "ResultExpiredError",
            },
        ),
    ],
)
def test_all_is_pinned(module, names):
    mod = _module(module)
    assert set(mod.__all__) == names
    assert len(mod.__all__) == len(set(mod.__all__))
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name} listed in __all__ but missing"


def test_agents_exports_at_least_the_core():
    agents = _module("agentscope_rpc.agents")
    assert {"AgentBase", "TemporaryMemory"} <= set(agents.__all__)
    for name in agents.__all__:
        assert hasattr(agents, name)


def test_version_is_a_string():
    assert isinstance(agentscope_rpc.__version__, str)
    assert agentscope_rpc.Msg is _module("agentscope_rpc.message").Msg


def test_exception_tree():
    e = exception
    for name in exception.__all__:
        assert issubclass(getattr(e, name), e.AgentScopeRpcError)
    assert issubclass(e.AuthenticationError, e.AgentServerError)
    assert issubclass(e.MessageTooLargeError, e.AgentServerError)
    assert issubclass(e.StreamTimeoutError, e.StreamError)
    assert issubclass(e.StreamTimeoutError, TimeoutError)
    assert issubclass(e.StreamCancelledError, e.StreamError)
    assert issubclass(e.ModelConfigError, KeyError)


def test_agent_call_error_carries_remote_details():
    import pickle

    err = exception.AgentCallError("ValueError", "bad input", "Traceback ...", "agent-1")
    assert (err.remote_type, err.remote_message, err.remote_traceback, err.agent_id) == (
        "ValueError",
        "bad input",
        "Traceback ...",
        "agent-1",
    )
    assert "ValueError: bad input" in str(err)
    assert "Traceback ..." in str(err)
    back = pickle.loads(pickle.dumps(err))
    assert (back.remote_type, back.remote_message, back.remote_traceback, back.agent_id) == (
        "ValueError",
        "bad input",
        "Traceback ...",
        "agent-1",
    )


def test_agentbase_api_names():
    from agentscope_rpc.agents import AgentBase

    for name in (
        "reply",
        "observe",
        "speak",
        "register_hook",
        "remove_hook",
        "clear_hooks",
        "register_class_hook",
        "remove_class_hook",
        "clear_class_hooks",
        "clear_all_class_hooks",
        "to_dist",
    ):
        assert callable(getattr(AgentBase, name)), name
    for hook_type in (
        "pre_reply",
        "post_reply",
        "pre_speak",
        "post_speak",
        "pre_observe",
        "post_observe",
    ):
        assert callable(getattr(AgentBase, f"register_{hook_type}_hook"))
        assert callable(getattr(AgentBase, f"remove_{hook_type}_hook"))


def test_core_does_not_import_transport():
    """Pipelines, msghub and the agent core stay importable without grpc."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'grpc' or name.startswith('grpc.'):\n"
        "            raise ImportError('grpc blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import agentscope_rpc, agentscope_rpc.agents, agentscope_rpc.pipelines\n"
        "import agentscope_rpc.msghub, agentscope_rpc.exception\n"
        "assert 'grpc' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
