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
        ("agentscope_rpc", {"init", "msghub", "state_dict", "print_llm_usage",
                            "register_model_wrapper_class", "Msg", "__version__"}),
        ("agentscope_rpc.message", {"Msg", "check_msg", "content_text", "set_echo_handler"}),
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
                "sequential_pipeline",
                "ifelse_pipeline",
                "switch_pipeline",
                "forloop_pipeline",
                "whileloop_pipeline",
                "placeholder",
            },
        ),
        ("agentscope_rpc.msghub", {"msghub", "MsgHubManager"}),
        ("agentscope_rpc.rpc", {"AsyncResult", "RemoteAgent", "RemoteObject", "RpcClient", "DistConf", "async_func",
                                "sync_func", "RetryBase", "RetryFixedTimes", "RetryExponential", "wait_ready"}),
        ("agentscope_rpc.rpc.retry_strategy", {"RetryBase", "RetryFixedTimes", "RetryExponential"}),
        ("agentscope_rpc.server", {"RpcAgentServerLauncher", "ServerConfig", "as_server"}),
        ("agentscope_rpc.streaming", {"pipeline", "SpeakChunk", "put_into_stream", "stop_stream", "get_runtime_stream"}),
        ("agentscope_rpc.runtime", {"Runtime", "bound", "current", "default"}),
        ("agentscope_rpc.sse", {"create_app", "serve", "load_app", "main", "page_html", "format_event", "sse_text",
                                "encode_item", "EventStreamResponse"}),
        ("agentscope_rpc.console", {"COLOURS", "ConsoleLogHandler", "ConsolePrinter", "colour_wanted", "print",
                                    "route_logging"}),
        ("agentscope_rpc.transcript", {"TranscriptError", "TranscriptWriter", "paced", "read_transcript", "record",
                                       "replay_to_terminal"}),
        ("agentscope_rpc.environment", {"BasicEnv", "Env", "EnvAlreadyExistError", "EnvError", "EnvListenerError",
                                        "EnvNotFoundError", "EnvTypeError", "EnvUnsupportedFunctionError", "Event",
                                        "EventListener", "event_func"}),
        (
            "agentscope_rpc.models",
            {
                "DEFAULT_MODEL_CONFIG", "DEFAULT_MODEL_CONFIG_NAME", "LlamaCppChatWrapper", "ModelRegistry",
                "ModelResponse", "ModelUsage", "ModelWrapperBase", "OpenAIChatWrapper", "ScriptedModelWrapper",
                "clear_model_configs", "default_registry", "default_usage", "find_smollm2_gguf", "get_model_config",
                "get_model_configs", "load_model_by_config_name", "model_types", "model_usage", "read_model_configs",
                "register_model_type", "set_invocation_dir",
            },
        ),
        ("agentscope_rpc.memory", {"MemoryBase", "TemporaryMemory"}),
        ("agentscope_rpc.tools", {"tool", "Tool", "Toolkit", "ToolCall", "ToolResult", "ToolCallEvent",
                                  "ToolResultEvent", "function_schema", "parse_docstring", "check_arguments",
                                  "describe_call", "DEFAULT_TOOL_TIMEOUT"}),
        ("agentscope_rpc.tools.protocol", {"OPEN", "CLOSE", "TagFilter", "parse_call", "instructions",
                                           "call_schema"}),
        ("agentscope_rpc.service", {"ServiceToolkit", "ServiceResponse", "ServiceExecStatus"}),
        ("agentscope_rpc.tts", {"Speaker", "SpokenFile", "TTSUnavailableError", "DEFAULT_VOICES", "INSTALL_HINT",
                                "MAX_SENTENCE_CHARS", "EXIT_TIMEOUT_S", "split_sentences", "find_espeak",
                                "find_player"}),
        ("agentscope_rpc.serialize", {"serialize", "deserialize", "is_serializable"}),
        ("agentscope_rpc.manager", {"ModelManager"}),
        ("agentscope_rpc.logging", {"LOG_LEVEL", "RunRecorder", "RecordingPrinter", "current_recorder",
                                    "log_msg", "log_stream_msg", "setup_logger", "std_level"}),
        (
            "agentscope_rpc.parsers",
            {
                "ParserBase", "DictFilterMixin", "MarkdownJsonObjectParser", "MarkdownJsonDictParser",
                "MarkdownCodeBlockParser", "TaggedContent", "MultiTaggedContentParser",
                "RegexTaggedContentParser", "JsonObjectParser", "parse_json_object", "parse_json_value",
                "check_required_keys",
            },
        ),
        (
            "agentscope_rpc.agents.hooks",
            {
                "HOOK_TYPES", "Hook", "HookRegistry", "HookOwner", "check_hook_type", "has_hooks",
                "hooks_for", "hook_copy", "run_pre_reply", "run_post_reply", "run_pre_observe",
                "run_post_observe", "run_pre_speak", "run_post_speak", "notify_reply_listeners",
            },
        ),
        (
            "agentscope_rpc.exception",
            {
                "AgentScopeRpcError",
                "ModelConfigError",
                "ModelCallError",
                "ResponseParsingError",
                "JsonParsingError",
                "JsonDictValidationError",
                "JsonTypeError",
                "RequiredFieldNotFoundError",
                "TagNotFoundError",
                "FunctionCallError",
                "FunctionCallFormatError",
                "FunctionNotFoundError",
                "ArgumentNotFoundError",
                "ArgumentTypeError",
                "QuotaExceededError",
                "StudioError",
                "StudioRegisterError",
                "AgentCreationError",
                "AgentNotFoundError",
                "AgentServerError",
                "AuthenticationError",
                "MessageTooLargeError",
                "AgentServerUnsupportedMethodError",
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
    assert {"AgentBase", "TemporaryMemory", "FunctionCallAgent", "ReActAgent"} <= set(agents.__all__)
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
    assert issubclass(e.RemoteSpeakError, e.StreamError)
    for name in ("JsonParsingError", "JsonDictValidationError", "JsonTypeError",
                 "RequiredFieldNotFoundError", "TagNotFoundError"):
        assert issubclass(getattr(e, name), e.ResponseParsingError)
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
        "import agentscope_rpc.msghub, agentscope_rpc.exception, agentscope_rpc.memory\n"
        "import agentscope_rpc.serialize, agentscope_rpc.manager, agentscope_rpc.logging\n"
        "import agentscope_rpc.parsers, agentscope_rpc.utils.common, agentscope_rpc.models\n"
        "agentscope_rpc.init(console=False)\n"
        "assert 'grpc' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
