"""Which classes a server can build, by name.

A class is distributable when it subclasses `AgentBase` or carries a truthy
`__agentscope_distributable__` attribute (environments, group objects).
Lookup order for `resolve(class_name, module, blob)`:

1. classes registered with the server: `--agent-dir` files, the launcher's
   `custom_agent_classes` (`register`, or the class file a child loads);
2. the class's import path (installed packages) — never a `__main__` module,
   and an import that raises anything (`SystemExit` included) is a creation
   error, never the end of the server;
3. with code shipping on, the class an authenticated client shipped
   (cloudpickled).  With it off, only 1 and 2: an allow-list.

Anything else is refused with a clear `AgentCreationError`.  `resolve` is
safe to call from worker threads.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import os
import pathlib
import stat
import sys
import threading
from typing import Iterable, Optional

import cloudpickle

from ..exception import AgentCreationError

log = logging.getLogger(__name__)


def is_distributable(obj: object) -> bool:
    """Whether `obj` is a class a server may build (an agent or a marked class)."""
    if not inspect.isclass(obj):
        return False
    return bool(getattr(obj, "__agentscope_distributable__", False))  # AgentBase and Env set it


def _is_main_module(module: str) -> bool:
    return "__main__" in module.split(".")


class AgentClassRegistry:
    """Classes a server knows (see the module docstring)."""

    def __init__(self, agent_dirs: Iterable[str], code_shipping: bool, classes: Iterable[type] = ()) -> None:
        self.code_shipping = code_shipping
        self._lock = threading.Lock()
        self._by_name: dict[str, type] = {}
        self._shipped: dict[bytes, type] = {}  # class blob -> the class it unpickled to
        for directory in agent_dirs:
            self.load_dir(directory)
        for klass in classes:
            self.register(klass)

    @classmethod
    def from_config(cls, config: object, classes: Iterable[type] = ()) -> "AgentClassRegistry":
        """The registry a `ServerConfig` describes, plus launcher-registered `classes`."""
        registry = cls(getattr(config, "agent_dir"), getattr(config, "code_shipping"), classes)
        class_file = getattr(config, "class_file", None)
        if class_file:
            for klass in load_class_file(class_file):
                registry.register(klass)
        return registry

    # -- registration ------------------------------------------------------------------
    def register(self, klass: type) -> None:
        """Make `klass` buildable by name (the launcher's custom_agent_classes)."""
        if not is_distributable(klass):
            raise TypeError(f"{klass!r} is not an agent class (an AgentBase subclass or a distributable class)")
        with self._lock:
            self._by_name[klass.__qualname__] = klass
            self._by_name.setdefault(klass.__name__, klass)

    def load_dir(self, directory: str) -> list[str]:
        """Register the distributable classes defined in `directory`'s .py files."""
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
            except (Exception, SystemExit) as err:  # a broken file must not stop the server
                sys.modules.pop(name, None)
                log.error("could not load agent file %s: %s: %s", file, type(err).__name__, err)
                continue
            for attr, obj in vars(module).items():
                if is_distributable(obj) and obj.__module__ == name:
                    with self._lock:
                        self._by_name[attr] = obj
                    found.append(attr)
        return found

    def names(self) -> list[str]:
        """Names of the registered classes."""
        with self._lock:
            return sorted(self._by_name)

    # -- lookup -----------------------------------------------------------------------
    def resolve(self, class_name: str, module: str, blob: bytes) -> type:
        """The class to build for a creation request (AgentCreationError if none)."""
        with self._lock:
            klass = self._by_name.get(class_name)
        if klass is not None:
            return klass
        klass, import_error = self._import(class_name, module)
        if klass is not None:
            return klass
        if blob:
            if not self.code_shipping:
                raise AgentCreationError(
                    f"agent class {class_name!r} is not known to this server and code "
                    f"shipping is off (--no-code-shipping); install it, use --agent-dir or "
                    f"register it with the launcher",
                )
            return self._unpickle(class_name, blob)
        detail = f"; importing it failed: {import_error}" if import_error else ""
        raise AgentCreationError(
            f"unknown agent class {class_name!r} (module {module!r}){detail}; known by name: "
            f"{', '.join(self.names()) or 'none'}",
        )

    def _unpickle(self, class_name: str, blob: bytes) -> type:
        with self._lock:  # the same bytes are the same class: unpickle once
            klass = self._shipped.get(blob)
            if klass is None:
                try:
                    klass = cloudpickle.loads(blob)
                except BaseException as err:  # pylint: disable=broad-except
                    raise AgentCreationError(
                        f"shipped class {class_name!r} could not be loaded: {type(err).__name__}: {err}",
                    ) from None
                if not is_distributable(klass):
                    raise AgentCreationError(f"shipped object {class_name!r} is not an agent class")
                self._shipped[blob] = klass
        return klass

    @staticmethod
    def _import(class_name: str, module: str) -> tuple[Optional[type], str]:
        """(class, "") from an installed module, or (None, why not)."""
        if not module or _is_main_module(module):
            return None, ""
        try:
            mod = importlib.import_module(module)
        except ImportError as err:  # not installed here: shipping may still provide it
            return None, "" if getattr(err, "name", None) == module.split(".")[0] else f"{type(err).__name__}: {err}"
        except BaseException as err:  # pylint: disable=broad-except  # SystemExit, KeyboardInterrupt, ...
            return None, f"{type(err).__name__}: {err}"
        obj: object = mod
        for part in class_name.split("."):
            if part.startswith("__"):  # a qualified name, not a walk through dunder attributes
                return None, f"bad class name {class_name!r}"
            obj = getattr(obj, part, None)
            if obj is None:
                return None, ""
        if is_distributable(obj):
            return obj, ""  # type: ignore[return-value]
        return None, f"{module}.{class_name} is not an agent class"


# -- the launcher's class file ------------------------------------------------------------
def write_class_file(path: str, classes: Iterable[type]) -> None:
    """Write `classes` for a child server to load at start (mode 0600, new file).

    Classes the child can import (installed packages) travel by reference;
    the rest, e.g. ones defined in `__main__` or a script, by value.
    """
    blob = dumps_classes(list(classes))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(blob)


_BY_VALUE_LOCK = threading.Lock()


def dumps_classes(classes: list) -> bytes:
    """cloudpickle `classes`, by value unless they come from an installed package."""
    for klass in classes:
        if not is_distributable(klass):
            raise TypeError(f"custom_agent_classes: {klass!r} is not an agent class")
    modules = {sys.modules.get(k.__module__) for k in classes if not _installed(k.__module__)}
    modules = {m for m in modules if m is not None and m.__name__ != "__main__"}
    with _BY_VALUE_LOCK:
        for module in modules:
            cloudpickle.register_pickle_by_value(module)
        try:
            return cloudpickle.dumps(classes)
        finally:
            for module in modules:
                cloudpickle.unregister_pickle_by_value(module)


def _installed(module_name: str) -> bool:
    if module_name.split(".")[0] == "agentscope_rpc":
        return True
    path = getattr(sys.modules.get(module_name), "__file__", None) or ""
    return "site-packages" in path or "dist-packages" in path


def load_class_file(path: str) -> list:
    """The classes in a launcher's class file; refuses a file others could have written."""
    try:
        info = os.stat(path)
    except OSError as err:
        raise ValueError(f"class file {path}: {err.strerror or err}") from err
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"class file {path} must be owned by this user with mode 0600")
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        classes = cloudpickle.loads(data)
    except Exception as err:  # pylint: disable=broad-except
        raise ValueError(f"class file {path} could not be loaded: {type(err).__name__}: {err}") from err
    if not isinstance(classes, list) or not all(is_distributable(k) for k in classes):
        raise ValueError(f"class file {path} holds no list of agent classes")
    return classes
