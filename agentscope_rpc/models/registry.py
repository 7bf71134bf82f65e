"""The process-wide registry of model configs and model types.

    read_model_configs([...] | {...} | "configs.json")
    model = load_model_by_config_name("my-gpt")

A config is a dict with `config_name` (how agents refer to it) and
`model_type` (which wrapper class runs it); the other keys go to that class.
Reading a config whose name is already known with a different body raises
`ModelConfigError` (unless `clear_existing=True`); an identical body is
ignored.  A config whose `model_type` is not (yet) known is kept with a
warning and fails only when an agent loads it, so one bad entry does not
sink a whole file.  Built-in defaults (the embedded SmolLM2,
`DEFAULT_MODEL_CONFIG`) are always resolvable and may be overridden by a
user config of that name.  `get_model_configs()` lists the user configs,
e.g. to ship them to servers.

The state lives in one `ModelRegistry`; the module functions use the
process's default registry.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import threading
from typing import Any, Union

from ..exception import ModelConfigError
from .model import ModelWrapperBase

log = logging.getLogger(__name__)

DEFAULT_MODEL_CONFIG_NAME = "smollm2"
"""The config agents use when they name none: the embedded model, `DEFAULT_MODEL_CONFIG`."""
DEFAULT_MODEL_CONFIG: dict = {
    "config_name": DEFAULT_MODEL_CONFIG_NAME,
    "model_type": "llama_cpp",
    "stream": True,
    "n_ctx": 2048,
    "generate_args": {"temperature": 0.7, "max_tokens": 256},
}
"""The built-in config `"smollm2"`: SmolLM2-135M-Instruct run in-process by llama.cpp
(the `local` extra), streaming tokens.  Always resolvable; a user config of the same
name replaces it."""


class ModelRegistry:
    """Model configs by name and wrapper classes by `model_type`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.configs: dict[str, dict] = {}
        self.builtin_configs: dict[str, dict] = {DEFAULT_MODEL_CONFIG_NAME: DEFAULT_MODEL_CONFIG}
        self.model_types: dict[str, type] = {}
        self.version = 0  # bumped on every change of `configs`
        self.shipped: tuple = (-1, "")  # (version, JSON of the user configs), what creations ship


_DEFAULT = ModelRegistry()


def default_registry() -> ModelRegistry:
    """The process's model registry."""
    return _DEFAULT


def register_model_type(cls: type, exist_ok: bool = True) -> type:
    """Make a `ModelWrapperBase` subclass usable as `model_type=cls.model_type`.

    With `exist_ok=False`, a model_type already taken by another class is an error.
    """
    if not (isinstance(cls, type) and issubclass(cls, ModelWrapperBase)) or not cls.model_type:
        raise TypeError(f"{cls!r} is not a ModelWrapperBase subclass with a model_type")
    with _DEFAULT.lock:
        known = _DEFAULT.model_types.get(cls.model_type)
        if known is not None and known is not cls and not exist_ok:
            raise ValueError(
                f"model_type {cls.model_type!r} is already registered ({known.__name__}); "
                "pass exist_ok=True to replace it",
            )
        _DEFAULT.model_types[cls.model_type] = cls
    return cls


def model_types() -> dict[str, type]:
    """The registered wrapper classes by model_type (a copy)."""
    with _DEFAULT.lock:
        return dict(_DEFAULT.model_types)


def load_config_source(configs: Union[str, os.PathLike, list, dict]) -> list:
    """The config dicts in a JSON file path, one dict, or a list (not validated)."""
    if isinstance(configs, (str, os.PathLike)):
        try:
            with open(configs, encoding="utf-8") as fh:
                configs = json.load(fh)
        except OSError as exc:
            raise ModelConfigError(f"cannot read model configs from {str(configs)!r}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise ModelConfigError(f"model config file {str(configs)!r} is not valid JSON: {exc}") from exc
    if isinstance(configs, dict):
        return [configs]
    if isinstance(configs, (list, tuple)):
        return list(configs)
    raise ModelConfigError(
        f"model configs must be a list of dicts, a dict or a JSON file path, not {type(configs).__name__}",
    )


def pick_config(path: Union[str, os.PathLike], name: Any = None, label: str = "config_name") -> tuple[list, str]:
    """(the configs in the JSON file `path`, the one named `name` — default: the first).

    For programs that take a config file and a config name on their command
    line: a name the file does not have is a `ValueError` naming `label`.
    """
    configs = load_config_source(path)
    names = [c.get("config_name") for c in configs if isinstance(c, dict)]
    name = name or (names[0] if names else None)
    if name not in names:
        raise ValueError(f"{label} {name!r}: not in {path} (has {names})")
    return configs, name


def _validate(config: Any) -> dict:
    if not isinstance(config, dict):
        raise ModelConfigError(f"a model config must be a dict, not {type(config).__name__}: {config!r:.200}")
    name, model_type = config.get("config_name"), config.get("model_type")
    if not isinstance(name, str) or not name:
        raise ModelConfigError(f"model config without a 'config_name': {config!r:.200}")
    if not isinstance(model_type, str) or not model_type:
        raise ModelConfigError(f"model config {name!r} has no 'model_type'")
    return copy.deepcopy(config)


def read_model_configs(
    configs: Union[str, os.PathLike, list, dict],
    clear_existing: bool = False,
    override: bool = False,
) -> None:
    """Register configs from a list of dicts, one dict, or a JSON file path.

    All configs are checked before any is registered, so a bad entry leaves
    the registry unchanged.  A name registered with a different body is an
    error unless `override` (an agent server takes the configs each creating
    client ships; agents load their model when built, so later overrides do
    not change agents that exist).  An unknown `model_type` only warns: it
    fails when the config is used.
    """
    incoming = [_validate(c) for c in load_config_source(configs)]
    with _DEFAULT.lock:
        known = {} if clear_existing else dict(_DEFAULT.configs)
        for config in incoming:
            name = config["config_name"]
            if name in known and known[name] != config and not override:
                raise ModelConfigError(
                    f"model config {name!r} is already registered with a different body; "
                    "use clear_existing=True or another config_name",
                )
            known[name] = config
        unknown = sorted({c["model_type"] for c in incoming} - set(_DEFAULT.model_types))
        types = sorted(_DEFAULT.model_types)
        _DEFAULT.configs.clear()
        _DEFAULT.configs.update(known)
        _DEFAULT.version += 1
    for model_type in unknown:
        names = [c["config_name"] for c in incoming if c["model_type"] == model_type]
        log.warning(
            "model config(s) %s: unknown model_type %r (known: %s); they fail only if an agent uses them",
            names, model_type, types,
        )


def clear_model_configs() -> None:
    """Forget every user config (built-in defaults stay available)."""
    with _DEFAULT.lock:
        _DEFAULT.configs.clear()
        _DEFAULT.version += 1


def model_configs_json() -> str:
    """The user configs as one JSON text, computed once per change (what agent creations ship)."""
    with _DEFAULT.lock:
        version, text = _DEFAULT.shipped
        if version != _DEFAULT.version:
            text = json.dumps(list(_DEFAULT.configs.values()), sort_keys=True)
            _DEFAULT.shipped = (_DEFAULT.version, text)
        return text


def get_model_configs() -> list[dict]:
    """Copies of the user configs, in registration order."""
    with _DEFAULT.lock:
        return copy.deepcopy(list(_DEFAULT.configs.values()))


def get_model_config(config_name: str) -> dict:
    """A copy of one config (user configs first, then built-in defaults)."""
    with _DEFAULT.lock:
        config = _DEFAULT.configs.get(config_name) or _DEFAULT.builtin_configs.get(config_name)
        known = sorted(set(_DEFAULT.configs) | set(_DEFAULT.builtin_configs))
    if config is None:
        raise ModelConfigError(
            f"no model config named {config_name!r}; known config names: {known}. "
            "Register configs with agentscope_rpc.init(model_configs=...) or read_model_configs().",
        )
    return copy.deepcopy(config)


def load_model_by_config_name(config_name: str) -> ModelWrapperBase:
    """Build a fresh wrapper for a config; heavy model state is shared."""
    config = get_model_config(config_name)
    model_type = config.pop("model_type")
    config.pop("config_name")
    with _DEFAULT.lock:
        cls = _DEFAULT.model_types.get(model_type)
        types = sorted(_DEFAULT.model_types)
    if cls is None:
        raise ModelConfigError(
            f"model config {config_name!r} has unknown model_type {model_type!r}; "
            f"known types: {types}",
        )
    try:
        return cls(config_name=config_name, **config)
    except TypeError as exc:
        raise ModelConfigError(f"model config {config_name!r} is malformed: {exc}") from exc


__all__ = [
    "DEFAULT_MODEL_CONFIG",
    "DEFAULT_MODEL_CONFIG_NAME",
    "ModelRegistry",
    "default_registry",
    "register_model_type",
    "model_types",
    "read_model_configs",
    "load_config_source",
    "pick_config",
    "clear_model_configs",
    "get_model_configs",
    "model_configs_json",
    "get_model_config",
    "load_model_by_config_name",
]
