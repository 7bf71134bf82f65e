"""Model configs registry and model wrappers.

    from agentscope_rpc.models import read_model_configs, load_model_by_config_name
    read_model_configs([{"config_name": "gpt", "model_type": "openai_chat",
                         "model_name": "gpt-4o-mini", "stream": True}])
    response = load_model_by_config_name("gpt")(messages)
    for last, text in response.stream: ...

Model types: "llama_cpp" (embedded SmolLM2 by default, config "smollm2"),
"openai_chat" (any OpenAI-compatible endpoint), "scripted" (canned replies).
Every call is counted (`model_usage()`, `agentscope_rpc.print_llm_usage()`).
"""
from .llama_cpp_model import LlamaCppChatWrapper, find_smollm2_gguf
from .model import ModelWrapperBase
from .openai_model import OpenAIChatWrapper
from .registry import (
    DEFAULT_MODEL_CONFIG,
    DEFAULT_MODEL_CONFIG_NAME,
    ModelRegistry,
    clear_model_configs,
    default_registry,
    get_model_config,
    get_model_configs,
    load_model_by_config_name,
    model_types,
    read_model_configs,
    register_model_type,
)
from .response import ModelResponse
from .scripted_model import ScriptedModelWrapper
from .usage import ModelUsage, default_usage, model_usage, set_invocation_dir

for _cls in (LlamaCppChatWrapper, OpenAIChatWrapper, ScriptedModelWrapper):
    register_model_type(_cls)
del _cls

__all__ = [
    "ModelWrapperBase",
    "ModelResponse",
    "LlamaCppChatWrapper",
    "OpenAIChatWrapper",
    "ScriptedModelWrapper",
    "DEFAULT_MODEL_CONFIG",
    "DEFAULT_MODEL_CONFIG_NAME",
    "read_model_configs",
    "clear_model_configs",
    "get_model_configs",
    "get_model_config",
    "load_model_by_config_name",
    "register_model_type",
    "model_types",
    "ModelRegistry",
    "default_registry",
    "ModelUsage",
    "default_usage",
    "model_usage",
    "set_invocation_dir",
    "find_smollm2_gguf",
]
