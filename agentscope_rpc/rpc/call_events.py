"""What one call's events do in the calling process.

The client session hands a call's speak/put/stop events here, in order, on
a dispatcher lane of the runtime (`Runtime.dispatch`, `CallEvents.lane`): the
speak deltas become accumulated `SpeakEvent`s (`SpeakDecoder`), the
pre_speak / post_speak hooks of the proxies standing for the speaking agent
run on them, and they go on to the sinks captured when the call was made —
or, when none claims them, to the runtime's console printer.  The outcome
settles the placeholder, after the post_reply hooks, on the same lane, so a
placeholder resolves only after every speak event before it was delivered.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from .. import speech
from ..tools.events import TOOL_EVENT_TYPES
from ..agents.hooks import has_hooks, run_post_speak, run_pre_speak
from ..exception import AgentServerNotAliveError, RemoteSpeakError, StreamCancelledError
from . import codec
from ._proto import agent_server_pb2 as pb
from .speak_codec import SpeakDecoder


class CallEvents:
    """The calling side of one call (see module docstring).  Not thread-safe: one lane at a time."""

    __slots__ = ("runtime", "endpoint", "placeholder", "sinks", "agent_id", "owner", "on_result", "lane",
                 "after_observes", "_decoder")

    def __init__(self, runtime: Any, endpoint: Any, placeholder: Any, sinks: tuple, agent_id: str, owner: Any = None,
                 on_result: Optional[Callable[[Any], Any]] = None, after_observes: bool = False) -> None:
        self.runtime = runtime
        self.endpoint = endpoint
        self.placeholder = placeholder
        self.sinks = sinks
        self.agent_id = agent_id
        self.owner = owner  # the proxy the call was made through
        self.on_result = on_result  # post_reply hooks
        # the dispatcher lane: calls feeding one consumer (an app stream) are
        # delivered in arrival order; others by agent, so a stuck hook holds up only its agent
        self.lane = ("sinks",) + tuple(id(s) for s in sinks) if sinks else ("agent", agent_id)
        # made while observes were in flight: an observe that failed surfaces here (it settled first)
        self.after_observes = after_observes
        self._decoder: Optional[SpeakDecoder] = None

    # -- on the dispatcher lane ----------------------------------------------------------
    def deliver(self, event: pb.Event) -> None:
        """One speak batch / put / stop event."""
        kind = event.WhichOneof("event")
        if kind == "speak":
            decoder = self._decoder
            if decoder is None:
                decoder = self._decoder = SpeakDecoder(RemoteSpeakError)
            for delta in event.speak.deltas:
                spoken = decoder.decode(delta)
                if spoken is not None:
                    self._show(spoken)
        elif kind == "put":
            obj = codec.decode(event.put, self.runtime.placeholder_from_ref)
            if speech.put_object(obj, self.sinks):
                return
            if isinstance(obj, TOOL_EVENT_TYPES):  # a remote agent's tool call: the terminal shows it
                show = getattr(self.runtime.printer, "show_event", None)
                if show is not None:
                    show(obj)
            else:
                self.runtime.runtime_stream_writer().put(obj)
        elif kind == "stop":
            if not speech.stop_streams(self.sinks):
                self.runtime.runtime_stream_writer().stop_stream()

    def _owners(self, agent_id: str) -> list:
        owners = self.runtime.proxies_for(agent_id)
        owner = self.owner
        if owner is not None and agent_id == self.agent_id:
            owners = [owner] + [p for p in owners if p is not owner]
        return owners

    def _show(self, event: speech.SpeakEvent) -> None:
        owners = self._owners(event.agent_id) if event.agent_id else []
        hooked = [o for o in owners if has_hooks(o, "pre_speak")]
        if hooked and event.error is None:
            msg = event.msg
            for owner in hooked:
                msg = run_pre_speak(owner, msg, event.stream, event.last)
            event = event.with_msg(msg)
        try:
            if not speech.publish(event, self.sinks):
                self.runtime.show(event)
        except StreamCancelledError:
            pass  # the consumer is gone (the call is being cancelled with it)
        if event.ended:
            for owner in owners:
                if has_hooks(owner, "post_speak"):
                    run_post_speak(owner)

    def settle(self, event: Optional[pb.Event], error: Optional[BaseException] = None) -> None:
        """The call's outcome: result, remote error, refusal — or `error` (the stream broke)."""
        placeholder = self.placeholder
        try:
            if error is None:
                kind = event.WhichOneof("event")
                if self.after_observes:
                    error = self.owner.take_observe_failure()
                    if error is not None:
                        placeholder._set_exception(error)  # pylint: disable=protected-access
                        return
                if kind == "result":
                    value = codec.decode(event.result, self.runtime.placeholder_from_ref)
                    if self.on_result is not None:
                        value = self.on_result(value)
                    placeholder._set_result(value)  # pylint: disable=protected-access
                    return
                if kind == "error":
                    error = codec.error_from_pb(event.error, self.agent_id)
                else:
                    error = codec.error_for_status(event.refused.code, event.refused.details, self.endpoint)
            placeholder._set_exception(self._named(error))  # pylint: disable=protected-access
        except Exception as err:  # decoding or a post_reply hook failed: that is the call's outcome
            placeholder._set_exception(err)  # pylint: disable=protected-access
        finally:
            self.end_open_messages()

    def _named(self, error: BaseException) -> BaseException:
        """A lost server's error names the agent the call was for (what the caller knows it by)."""
        label = getattr(self.owner, "_label", None)
        if isinstance(error, AgentServerNotAliveError) and label is not None and self.agent_id not in str(error):
            return AgentServerNotAliveError(f"{error}; {label()} was lost with it", error.host, error.port)
        return error

    def end_open_messages(self) -> None:
        """Messages still open when the call ended: each ends with the call's error."""
        decoder = self._decoder
        if decoder is None or not decoder.open_messages():
            return
        error = self.placeholder.exception(0) if self.placeholder.done() else None
        for spoken in decoder.abort(error):
            self._show(spoken)
