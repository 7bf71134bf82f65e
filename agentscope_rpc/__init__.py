"""agentscope-rpc: multi-agent apps whose agents run as actors in gRPC servers."""
from ._init import init
from .message import Msg

__version__ = "0.1.0"

__all__ = ["init", "Msg", "__version__"]
