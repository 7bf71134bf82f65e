"""Every exception agentscope-rpc raises, in one tree.

    AgentScopeRpcError
    ├── ModelConfigError          unknown / malformed model config
    ├── ModelCallError            a model backend failed after its retries
    ├── ResponseParsingError      model output could not be parsed
    ├── AgentCreationError        a server could not build the agent
    ├── AgentCallError            the remote reply raised (type, message, traceback)
    ├── AgentNotFoundError        no such agent on the server
    ├── AgentServerError          the server refused or failed a request
    │   ├── AuthenticationError   wrong or missing token
    │   └── MessageTooLargeError  over the server's size cap
    ├── AgentServerNotAliveError  the server is gone (killed, unreachable)
    ├── StreamError
    │   ├── StreamTimeoutError    no event within the consumer's deadline
    │   ├── StreamCancelledError  the run was cancelled
    │   └── RemoteSpeakError      a remote speak generator raised (its type name)
    └── ResultExpiredError        a placeholder's result is no longer kept

`AgentCallError.remote_type`, `.remote_message`, `.remote_traceback` describe
the exception raised on the server.  The mapping between gRPC status codes and
these classes lives in one place: `agentscope_rpc.rpc.codec`.
"""
from __future__ import annotations

from typing import Optional


class AgentScopeRpcError(Exception):
    """Base of all agentscope-rpc errors."""


class ModelConfigError(AgentScopeRpcError, KeyError):
    """A model config is unknown or malformed."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelCallError(AgentScopeRpcError):
    """A model backend failed after its retries."""


class ResponseParsingError(AgentScopeRpcError):
    """A model response could not be parsed into the expected shape."""

    def __init__(self, message: str, raw: str = "") -> None:
        super().__init__(message)
        self.raw = raw


class AgentCreationError(AgentScopeRpcError):
    """An agent server could not create the requested agent."""


class AgentNotFoundError(AgentScopeRpcError):
    """The server hosts no agent with that id."""


class AgentServerError(AgentScopeRpcError):
    """The server refused or failed a request."""


class AuthenticationError(AgentServerError):
    """The server rejected the client's token."""


class MessageTooLargeError(AgentServerError):
    """A request or response exceeded the configured size cap."""


class AgentServerNotAliveError(AgentScopeRpcError):
    """The agent server cannot be reached or died during a call."""

    def __init__(self, message: str, host: str = "", port: int = 0) -> None:
        super().__init__(message)
        self.host = host
        self.port = port


class AgentCallError(AgentScopeRpcError):
    """The remote agent raised; carries the remote type, message, traceback."""

    def __init__(
        self,
        remote_type: str,
        remote_message: str,
        remote_traceback: str = "",
        agent_id: Optional[str] = None,
    ) -> None:
        self.remote_type = remote_type
        self.remote_message = remote_message
        self.remote_traceback = remote_traceback
        self.agent_id = agent_id
        super().__init__(f"{remote_type}: {remote_message}")

    def __str__(self) -> str:
        text = f"{self.remote_type}: {self.remote_message}"
        if self.remote_traceback:
            text += "\n--- remote traceback ---\n" + self.remote_traceback
        return text

    def __reduce__(self):  # keep the fields when pickled across processes
        return (
            type(self),
            (
                self.remote_type,
                self.remote_message,
                self.remote_traceback,
                self.agent_id,
            ),
        )


class StreamError(AgentScopeRpcError):
    """A stream ended abnormally."""


class StreamTimeoutError(StreamError, TimeoutError):
    """No stream event arrived within the consumer's deadline."""


class StreamCancelledError(StreamError):
    """The stream (and the run behind it) was cancelled."""


class RemoteSpeakError(StreamError):
    """A remote agent's speak generator raised; the message is the remote type name."""


class ResultExpiredError(AgentScopeRpcError):
    """The result behind a placeholder is no longer kept by its server."""


__all__ = [
    "AgentScopeRpcError",
    "ModelConfigError",
    "ModelCallError",
    "ResponseParsingError",
    "AgentCreationError",
    "AgentNotFoundError",
    "AgentServerError",
    "AuthenticationError",
    "MessageTooLargeError",
    "AgentServerNotAliveError",
    "AgentCallError",
    "StreamError",
    "StreamTimeoutError",
    "StreamCancelledError",
    "RemoteSpeakError",
    "ResultExpiredError",
]
