"""The transport's public face: placeholders, proxies, v0 decorators and clients.

    from agentscope_rpc.rpc import AsyncResult, RpcClient, DistConf, async_func, sync_func
"""
from .client import RpcClient
from .decorators import async_func, sync_func
from .placeholder import AsyncResult
from .proxy import RemoteAgent, RemoteObject, wait_ready
from .retry_strategy import RetryBase, RetryExponential, RetryFixedTimes
from .to_dist import DistConf

__all__ = [
    "AsyncResult",
    "RemoteAgent",
    "RemoteObject",
    "wait_ready",
    "RpcClient",
    "DistConf",
    "async_func",
    "sync_func",
    "RetryBase",
    "RetryFixedTimes",
    "RetryExponential",
]
