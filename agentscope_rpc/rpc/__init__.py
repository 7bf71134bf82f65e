"""Transport: wire codec, gRPC client, placeholders and agent proxies."""
from .placeholder import AsyncResult
from .proxy import RemoteAgent

__all__ = ["AsyncResult", "RemoteAgent"]
