"""`ModelManager`: AgentScope 0.1.6's model manager, over this process's model registry.

    from agentscope_rpc.manager import ModelManager
    manager = ModelManager.get_instance()
    manager.load_model_configs("configs.json")
    model = manager.get_model_by_config_name("gpt-4")

It is a view of `agentscope_rpc.models`' registry (what `init(model_configs=)`
fills), so both see the same configs.  As in 0.1.6, `load_model_configs`
keeps the first config of a name and warns about later ones.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Optional, Union

from .models import (
    ModelWrapperBase,
    clear_model_configs,
    get_model_config,
    get_model_configs,
    load_model_by_config_name,
    model_types,
    read_model_configs,
    register_model_type,
)
from .models.registry import load_config_source

log = logging.getLogger(__name__)


class ModelManager:
    """Model configs and wrapper classes (see the module docstring)."""

    _instance: Optional["ModelManager"] = None
    _instance_lock = threading.Lock()

    @classmethod
    def get_instance(cls) -> "ModelManager":
        """The process's manager."""
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def initialize(self, model_configs: Union[dict, str, list, None] = None) -> None:
        """Load `model_configs` if given (what `init()` does)."""
        if model_configs is not None:
            self.load_model_configs(model_configs)

    def load_model_configs(self, model_configs: Union[dict, str, list], clear_existing: bool = False) -> None:
        """Read configs from a JSON file path, a dict or a list of dicts.

        A config whose name is already loaded is skipped with a warning
        (0.1.6's rule); `clear_existing=True` forgets the loaded ones first.
        """
        if clear_existing:
            self.clear_model_configs()
        known = {c["config_name"] for c in get_model_configs()}
        fresh = []
        for config in load_config_source(model_configs):
            name = config.get("config_name") if isinstance(config, dict) else None
            if name in known:
                log.warning("model config %r already exists; this one is skipped", name)
                continue
            known.add(name)
            fresh.append(config)
        if fresh:
            read_model_configs(fresh)
        log.info("model configs loaded: %s", ", ".join(sorted(n for n in known if n)))

    def clear_model_configs(self) -> None:
        """Forget every loaded config."""
        clear_model_configs()

    flush = clear_model_configs

    def get_model_config(self, config_name: str) -> dict:
        """A copy of the config `config_name` (ModelConfigError if unknown)."""
        return get_model_config(config_name)

    def get_config_by_name(self, config_name: str) -> Optional[dict]:
        """A copy of the config `config_name`, or None (0.1.6's lookup)."""
        for config in get_model_configs():
            if config["config_name"] == config_name:
                return config
        return None

    def get_model_by_config_name(self, config_name: str) -> ModelWrapperBase:
        """A model wrapper built from the config `config_name`."""
        return load_model_by_config_name(config_name)

    def register_model_wrapper_class(self, model_wrapper_class: type, exist_ok: bool = False) -> None:
        """Make `model_wrapper_class` usable as its `model_type`."""
        if not (isinstance(model_wrapper_class, type) and issubclass(model_wrapper_class, ModelWrapperBase)):
            raise TypeError(f"{model_wrapper_class!r} does not inherit from ModelWrapperBase")
        register_model_type(model_wrapper_class, exist_ok=exist_ok)

    @property
    def model_configs(self) -> dict:
        """The loaded configs by name (copies)."""
        return {c["config_name"]: c for c in get_model_configs()}

    @property
    def model_wrapper_mapping(self) -> dict:
        """The wrapper classes by model_type."""
        return model_types()

    def state_dict(self) -> dict:
        """The loaded configs, as 0.1.6 serialises them."""
        return {"model_configs": self.model_configs}

    def load_dict(self, data: dict) -> None:
        """Replace the loaded configs by those of a `state_dict()`."""
        configs: Any = data["model_configs"]
        clear_model_configs()
        if configs:
            read_model_configs(list(configs.values()) if isinstance(configs, dict) else configs)


__all__ = ["ModelManager"]
