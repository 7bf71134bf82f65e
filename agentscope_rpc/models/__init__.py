"""Model configs registry and model wrappers (DESIGN §7).

    from agentscope_rpc.models import read_model_configs, load_model_by_config_name
    read_model_configs([{"config_name": "gpt", "model_type": "openai_chat",
                         "model_name": "gpt-4o-mini", "stream": True}])
    response = load_model_by_config_name("gpt")(messages)
    for last, text in response.stream: ...

Model types: "llama_cpp" (embedded SmolLM2 by default, config "smollm2"),
"openai_chat" (any OpenAI-compatible endpoint), "scripted" (canned replies).
"""
from .llama_cpp_model import LlamaCppChatWrapper, find_smollm2_gguf
from .model import ModelWrapperBase
from .openai_model import OpenAIChatWrapper
from .registry import (
    DEFAULT_MODEL_CONFIG,
    DEFAULT_MODEL_CONFIG_NAME,
    clear_model_configs,
    get_model_config,
    get_model_configs,
    load_model_by_config_name,
    read_model_configs,
    register_model_type,
)
from .response import ModelResponse
from .scripted_model import ScriptedModelWrapper

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
    "find_smollm2_gguf",
]
