"""A tool's JSON schema, built from its signature and its Google-style docstring.

    def get_forecast(city: str, days: int = 3, unit: Literal["C", "F"] = "C") -> str:
        '''The weather for the next days.

        Args:
            city (str): Name of the city.
            days: How many days, 1 to 7.
            unit: Celsius or Fahrenheit.
        '''

    function_schema(get_forecast)["function"]["parameters"] ==
        {"type": "object",
         "properties": {"city": {"type": "string", "description": "Name of the city."},
                        "days": {"type": "integer", "description": "How many days, 1 to 7.", "default": 3},
                        "unit": {"type": "string", "enum": ["C", "F"], "description": ..., "default": "C"}},
         "required": ["city"]}

Types come from the annotations (`str`, `int`, `float`, `bool`, `list[X]`,
`tuple`, `dict[str, X]`, `Optional[X]`, `X | None`, `Literal[...]`, `Enum`
subclasses, `Any`); a parameter without an annotation takes the type named
in its docstring line (`city (str): ...`) or none.  The description is the
docstring's text before its first section.  `*args`, `**kwargs`, `self` and
preset arguments (bound by the toolkit, never shown to the model) are left
out.
"""
from __future__ import annotations

import builtins
import collections.abc
import enum
import inspect
import re
import types
import typing
from typing import Any, Callable, Iterable, Optional

_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params|Returns|Return|Raises|Yields|Examples?|Notes?|"
                      r"Attributes|See Also|Warnings?)\s*:\s*$")
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")
_DOC_TYPES = {"str": str, "string": str, "int": int, "integer": int, "float": float, "number": float,
              "bool": bool, "boolean": bool, "list": list, "dict": dict, "object": dict}


def parse_docstring(doc: Optional[str]) -> tuple[str, dict, dict]:
    """(description, {arg: description}, {arg: type text}) from a Google-style docstring."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: list[str] = []
    args: dict[str, str] = {}
    arg_types: dict[str, str] = {}
    section: Optional[str] = None
    current: Optional[str] = None
    arg_indent: Optional[int] = None
    for line in lines:
        header = _SECTION.match(line)
        if header:
            section, current, arg_indent = header.group(1).lower(), None, None
            continue
        if section is None:
            summary.append(line)
            continue
        if section not in ("args", "arguments", "parameters", "params") or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        match = _ARG_LINE.match(line.strip())
        if match and (arg_indent is None or indent <= arg_indent):
            arg_indent = indent
            current = match.group(1).lstrip("*")
            args[current] = match.group(3).strip()
            if match.group(2):
                arg_types[current] = match.group(2).strip()
        elif current is not None:  # a continuation line of the current argument
            args[current] = (args[current] + " " + line.strip()).strip()
    description = " ".join(" ".join(summary).split())
    return description, args, arg_types


def type_schema(annotation: Any) -> dict:
    """The JSON schema of one annotation (`{}` when nothing can be said)."""
    if annotation is inspect.Parameter.empty or annotation is Any or annotation is None:
        return {}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_schema(args[0])
    if origin is typing.Union or (hasattr(types, "UnionType") and isinstance(annotation, types.UnionType)):
        kept = [a for a in args if a is not type(None)]
        if len(kept) == 1:
            return type_schema(kept[0])
        return {"anyOf": [type_schema(a) for a in kept]}
    if origin is typing.Literal:
        values = list(args)
        schema: dict = {"enum": values}
        kinds = {_json_type(type(v)) for v in values}
        if len(kinds) == 1 and None not in kinds:
            schema["type"] = kinds.pop()
        return schema
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = [member.value for member in annotation]
        schema = {"enum": values}
        kinds = {_json_type(type(v)) for v in values}
        if len(kinds) == 1 and None not in kinds:
            schema["type"] = kinds.pop()
        return schema
    if origin in (list, tuple, set, frozenset, collections.abc.Sequence):
        schema = {"type": "array"}
        item_args = [a for a in args if a is not Ellipsis]
        if len(item_args) == 1:
            items = type_schema(item_args[0])
            if items:
                schema["items"] = items
        return schema
    if origin is dict:
        schema = {"type": "object"}
        if len(args) == 2:
            values = type_schema(args[1])
            if values:
                schema["additionalProperties"] = values
        return schema
    json_type = _json_type(annotation)
    return {"type": json_type} if json_type else {}


def _json_type(py_type: Any) -> Optional[str]:
    if not isinstance(py_type, type):
        return None
    if issubclass(py_type, bool):
        return "boolean"
    if issubclass(py_type, int):
        return "integer"
    if issubclass(py_type, float):
        return "number"
    if issubclass(py_type, str):
        return "string"
    if issubclass(py_type, (list, tuple, set, frozenset)):
        return "array"
    if issubclass(py_type, dict):
        return "object"
    return None


def _jsonable(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v) for k, v in value.items())
    return False


def function_schema(
    func: Callable,
    name: Optional[str] = None,
    description: Optional[str] = None,
    preset: Iterable[str] = (),
) -> dict:
    """The OpenAI `tools` entry for `func`: `{"type": "function", "function": {name, description, parameters}}`.

    `preset` names arguments the toolkit binds itself (left out of the schema).
    """
    target = func.func if hasattr(func, "func") and hasattr(func, "keywords") else func  # functools.partial
    doc_text, arg_docs, arg_doc_types = parse_docstring(inspect.getdoc(target))
    hints = type_hints(target)
    preset = set(preset)
    if hasattr(func, "keywords"):
        preset |= set(func.keywords or {})
    properties: dict = {}
    required: list = []
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.name in ("self", "cls"):
            continue
        if param.name in preset:
            continue
        annotation = hints.get(param.name, param.annotation)
        schema = type_schema(annotation)
        if not schema and param.name in arg_doc_types:
            doc_type = _DOC_TYPES.get(arg_doc_types[param.name].split(",")[0].strip().lower())
            schema = type_schema(doc_type) if doc_type else {}
        if arg_docs.get(param.name):
            schema["description"] = arg_docs[param.name]
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
        else:
            default = param.default.value if isinstance(param.default, enum.Enum) else param.default
            if default is not None and _jsonable(default):
                schema["default"] = default
        properties[param.name] = schema
    parameters: dict = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    return {
        "type": "function",
        "function": {
            "name": name or getattr(target, "__name__", "tool"),
            "description": description if description is not None else doc_text,
            "parameters": parameters,
        },
    }


def type_hints(func: Callable) -> dict:
    """The function's annotations, evaluated.

    `typing.get_type_hints` needs every name an annotation mentions in the
    function's globals; a function shipped by value to an agent server
    (cloudpickle) keeps only the globals its code uses, so string
    annotations (`from __future__ import annotations`) are evaluated one by
    one with `typing`'s and the builtins' names too, and one that still
    cannot be read counts as unannotated.
    """
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception:  # pylint: disable=broad-except
        pass
    names = {**vars(builtins), **vars(typing), **getattr(func, "__globals__", {})}
    hints = {}
    for name, annotation in (getattr(func, "__annotations__", None) or {}).items():
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, names)  # pylint: disable=eval-used  # the function's own annotation
            except Exception:  # pylint: disable=broad-except
                continue
        hints[name] = annotation
    return hints


def enum_parameters(func: Callable) -> dict:
    """{parameter: Enum class} for the parameters annotated with an Enum (the model sends their values)."""
    hints = type_hints(func)
    out = {}
    for name, hint in hints.items():
        options = [hint] + list(typing.get_args(hint))
        for option in options:
            if isinstance(option, type) and issubclass(option, enum.Enum):
                out[name] = option
                break
    return out


__all__ = ["function_schema", "parse_docstring", "type_schema", "type_hints", "enum_parameters"]
