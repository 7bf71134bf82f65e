"""Agent memory, with AgentScope 0.1.6's module path: `agentscope_rpc.memory`."""
from .base import MemoryBase
from .temporary import TemporaryMemory

__all__ = ["MemoryBase", "TemporaryMemory"]
