"""Agents: the base class and the built-in agents."""
from .agent import AgentBase
from .memory import TemporaryMemory

__all__ = ["AgentBase", "TemporaryMemory"]
