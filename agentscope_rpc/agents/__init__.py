"""Agents: the base class and the built-in agents."""
from .agent import AgentBase
from .dialog_agent import DialogAgent
from .dict_dialog_agent import DictDialogAgent
from .function_call_agent import FunctionCallAgent, ReActAgent
from ..memory import TemporaryMemory
from .user_agent import UserAgent, UserExit

__all__ = [
    "AgentBase",
    "TemporaryMemory",
    "DialogAgent",
    "DictDialogAgent",
    "FunctionCallAgent",
    "ReActAgent",
    "UserAgent",
    "UserExit",
]
