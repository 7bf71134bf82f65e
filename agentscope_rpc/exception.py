"""Every exception agentscope-rpc raises, in one tree.

    AgentScopeRpcError
    ├── ModelConfigError          unknown / malformed model config
    ├── ModelCallError            a model backend failed after its retries
    ├── ResponseParsingError      model output could not be parsed (`.raw_response`)
    │   ├── JsonParsingError      the text is not valid JSON
    │   ├── JsonDictValidationError  the JSON dict fails its schema
    │   ├── JsonTypeError         valid JSON, but not the wanted type
    │   ├── RequiredFieldNotFoundError  a required key is missing
    │   └── TagNotFoundError      a tag (```json, <name>…) is missing
    ├── FunctionCallError         a tool/function call went wrong
    │   ├── FunctionCallFormatError, FunctionNotFoundError,
    │   └── ArgumentNotFoundError, ArgumentTypeError
    ├── QuotaExceededError        a monitored metric exceeded its quota
    ├── StudioError               AgentScope Studio (not used here)
    │   └── StudioRegisterError
    ├── AgentCreationError        a server could not build the agent
    ├── AgentCallError            the remote reply raised (type, message, traceback)
    ├── AgentNotFoundError        no such agent on the server
    ├── AgentServerError          the server refused or failed a request
    │   ├── AuthenticationError   wrong or missing token
    │   ├── MessageTooLargeError  over the server's size cap
    │   └── AgentServerUnsupportedMethodError  no such method on the agent
    ├── AgentServerNotAliveError  the server is gone (killed, unreachable)
    ├── StreamError
    │   ├── StreamTimeoutError    no event within the consumer's deadline
    │   ├── StreamCancelledError  the run was cancelled
    │   └── RemoteSpeakError      a remote speak generator raised (`.remote_type`)
    └── ResultExpiredError        a placeholder's result is no longer kept

AgentScope 0.1.6's names are kept, so `except ResponseParsingError` and
friends port unchanged (0.1.6's environment errors live with the
environments, `agentscope_rpc.environment`).

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
    """A model response could not be parsed into the expected shape.

    `raw_response` (also `raw`) is the text that failed; `message` the reason,
    worded so that it can be fed back to the model.
    """

    def __init__(self, message: str, raw_response: Optional[str] = None, *, raw: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.raw_response = raw_response if raw_response is not None else (raw or "")

    @property
    def raw(self) -> str:
        """The text that could not be parsed (same as `raw_response`)."""
        return self.raw_response

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        return (type(self), (self.message, self.raw_response))


class JsonParsingError(ResponseParsingError):
    """The response is not valid JSON."""


class JsonDictValidationError(ResponseParsingError):
    """The JSON dictionary does not follow its schema."""


class JsonTypeError(ResponseParsingError):
    """The response is valid JSON, but not of the wanted type (e.g. not a dict)."""


class RequiredFieldNotFoundError(ResponseParsingError):
    """A required key is missing from the parsed response."""


class TagNotFoundError(ResponseParsingError):
    """A tag (the opening or closing one) is missing from the response."""

    def __init__(
        self,
        message: str,
        raw_response: Optional[str] = None,
        missing_begin_tag: bool = False,
        missing_end_tag: bool = False,
    ) -> None:
        super().__init__(message, raw_response)
        self.missing_begin_tag = missing_begin_tag
        self.missing_end_tag = missing_end_tag

    def __reduce__(self):
        return (type(self), (self.message, self.raw_response, self.missing_begin_tag, self.missing_end_tag))


class FunctionCallError(AgentScopeRpcError):
    """A tool/function call requested by a model went wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FunctionCallFormatError(FunctionCallError):
    """The function call is malformed."""


class FunctionNotFoundError(FunctionCallError):
    """No function of that name is available."""


class ArgumentNotFoundError(FunctionCallError):
    """A required argument of the function is missing."""


class ArgumentTypeError(FunctionCallError):
    """An argument of the function has the wrong type."""


class QuotaExceededError(AgentScopeRpcError):
    """A monitored metric exceeded its quota (`.name` is the metric)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.message = f"Metric [{name}] exceeds quota."
        super().__init__(self.message)


class StudioError(AgentScopeRpcError):
    """AgentScope Studio failed (kept for 0.1.6 programs; no studio is used here)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StudioRegisterError(StudioError):
    """Registering the run with AgentScope Studio failed."""


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


class AgentServerUnsupportedMethodError(AgentServerError):
    """The agent on the server has no such (public) method."""


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
    """A remote speak generator raised; `remote_type` names its exception type."""

    def __init__(self, remote_type: str, message: str = "") -> None:
        self.remote_type = remote_type
        self.remote_message = message
        super().__init__(f"{remote_type}: {message}" if message else remote_type)

    def __reduce__(self):
        return (type(self), (self.remote_type, self.remote_message))


class ResultExpiredError(AgentScopeRpcError):
    """The result behind a placeholder is no longer kept by its server."""


__all__ = [
    "AgentScopeRpcError",
    "ModelConfigError",
    "ModelCallError",
    "ResponseParsingError",
    "JsonParsingError",
    "JsonDictValidationError",
    "JsonTypeError",
    "RequiredFieldNotFoundError",
    "TagNotFoundError",
    "FunctionCallError",
    "FunctionCallFormatError",
    "FunctionNotFoundError",
    "ArgumentNotFoundError",
    "ArgumentTypeError",
    "QuotaExceededError",
    "StudioError",
    "StudioRegisterError",
    "AgentCreationError",
    "AgentNotFoundError",
    "AgentServerError",
    "AuthenticationError",
    "MessageTooLargeError",
    "AgentServerUnsupportedMethodError",
    "AgentServerNotAliveError",
    "AgentCallError",
    "StreamError",
    "StreamTimeoutError",
    "StreamCancelledError",
    "RemoteSpeakError",
    "ResultExpiredError",
]
