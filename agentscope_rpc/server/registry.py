"""Which agent classes a server can build, by name.

Lookup order: classes found in `--agent-dir` files, then the class's import
path (installed packages), then — when code shipping is on — the class the
client shipped (cloudpickled).  Anything else is refused with a clear error.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import pathlib
import sys
from typing import Optional

import cloudpickle

from ..agents import AgentBase
from ..exception import AgentCreationError

log = logging.getLogger(__name__)


class AgentClassRegistry:
    """Agent classes a server knows."""

    def __init__(self, agent_dirs: list, code_shipping: bool) -> None:
        self.code_shipping = code_shipping
        self._by_name: dict[str, type] = {}
        self._shipped: dict[bytes, type] = {}  # class blob -> the class it unpickled to
        for directory in agent_dirs:
            self.load_dir(directory)

    def load_dir(self, directory: str) -> list[str]:
        path = pathlib.Path(directory)
        if not path.is_dir():
            raise ValueError(f"--agent-dir {directory} is not a directory")
        found = []
        for file in sorted(path.glob("*.py")):
            name = f"_agentscope_agent_dir_{abs(hash(str(file.resolve())))}_{file.stem}"
            spec = importlib.util.spec_from_file_location(name, file)
            if spec is None or spec.loader is None:
                continue
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as err:  # a broken file must not stop the server
                log.error("could not load agent file %s: %s", file, err)
                continue
            for attr, obj in vars(module).items():
                if inspect.isclass(obj) and issubclass(obj, AgentBase) and obj.__module__ == name:
                    self._by_name[attr] = obj
                    found.append(attr)
        return found

    def register(self, klass: type) -> None:
        """Make `klass` known by name (classes given to the launcher)."""
        self._by_name[klass.__name__] = klass

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def resolve(self, class_name: str, module: str, blob: bytes) -> type:
        klass = self._by_name.get(class_name)
        if klass is not None:
            return klass
        klass = self._import(class_name, module)
        if klass is not None:
            return klass
        if blob:
            if not self.code_shipping:
                raise AgentCreationError(
                    f"agent class {class_name!r} is not known to this server and code "
                    f"shipping is off (--no-code-shipping); install it or use --agent-dir",
                )
            klass = self._shipped.get(blob)
            if klass is None:  # the same bytes are the same class: unpickle once
                klass = cloudpickle.loads(blob)
                if not (inspect.isclass(klass) and issubclass(klass, AgentBase)):
                    raise AgentCreationError(f"shipped object {class_name!r} is not an agent class")
                self._shipped[blob] = klass
            return klass
        raise AgentCreationError(
            f"unknown agent class {class_name!r} (module {module!r}); known by name: "
            f"{', '.join(self.names()) or 'none'}",
        )

    @staticmethod
    def _import(class_name: str, module: str) -> Optional[type]:
        if not module or module == "__main__":
            return None
        try:
            mod = importlib.import_module(module)
        except Exception:  # not importable here: fall through to shipping
            return None
        obj = mod
        for part in class_name.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                return None
        if inspect.isclass(obj) and issubclass(obj, AgentBase):
            return obj
        return None
