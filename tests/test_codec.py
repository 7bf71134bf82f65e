"""The wire codec alone (rpc/codec.py, rpc/frames.py): payloads, references, capabilities,
the one error <-> status mapping, frames and parts."""
from __future__ import annotations

import pickle

import grpc
import pytest

from agentscope_rpc import exception as exc
from agentscope_rpc.message import Msg
from agentscope_rpc.rpc import codec, frames
from agentscope_rpc.rpc._proto import agent_server_pb2 as pb
from agentscope_rpc.rpc.placeholder import AsyncResult


def test_json_values_round_trip_and_keep_their_types():
    msg = Msg("alice", {"k": [1, 2]}, "user", metadata={"m": True}, id="")
    value = {"msg": msg, "pair": (1, "two"), "list": [None, 1.5], "nested": {"t": (msg,)}}
    payload = codec.encode(value)
    assert payload.kind == pb.Payload.JSON
    back = codec.decode(payload)
    assert back["msg"] == msg and back["msg"].id == ""  # a falsy id survives
    assert back["pair"] == (1, "two") and isinstance(back["pair"], tuple)
    assert back["nested"]["t"][0] == msg


def test_what_json_cannot_carry_is_pickled_and_refused_without_code_shipping():
    class Thing:
        pass

    payload = codec.encode({"x": Thing()})
    assert payload.kind == pb.Payload.PICKLE
    with pytest.raises(PermissionError):
        codec.decode(payload, allow_pickle=False)
    with pytest.raises(TypeError):
        codec.encode({"x": Thing()}, allow_pickle=False)
    with pytest.raises(codec._NotJson):  # pylint: disable=protected-access
        codec._jsonable({"__type": "Msg"})  # pylint: disable=protected-access  # a dict that looks tagged


def test_call_arguments_and_their_shape():
    args, kwargs = codec.decode_args(codec.encode_args(("a", 1), {"k": [1]}))
    assert args == ("a", 1) and kwargs == {"k": [1]}
    with pytest.raises(ValueError):
        codec.decode_args(codec.encode([1, 2]))


def test_one_message_sent_again_is_encoded_once_and_decoded_into_fresh_objects():
    msg = Msg("host", "vote now", "system")
    first = codec.encode_args((msg,), {})
    assert codec.encode_args((msg,), {}) is first  # a fan-out encodes it once
    msg.content = "changed"
    changed = codec.encode_args((msg,), {})
    assert changed is not first and b"changed" in changed.data  # ... but never a stale encoding
    a, _ = codec.decode_args(changed)
    b, _ = codec.decode_args(changed)
    assert a[0] == b[0] and a[0] is not b[0]  # every call gets a message object of its own
    mutable = Msg("host", {"list": []})
    assert codec.encode_args((mutable,), {}) is not codec.encode_args((mutable,), {})  # mutable content: always fresh


def test_a_reference_carries_a_capability_for_that_result_only():
    key = codec.capability_key("the-servers-token")
    ref = codec.ResultRef(codec.public(codec.Endpoint("h", 1, "the-servers-token")), "task-1", key=key)
    sent = ref.exported()
    assert sent.key is None and sent.capability and "the-servers-token" not in repr(sent)
    assert codec.capability_ok(key, "task-1", sent.capability)
    assert not codec.capability_ok(key, "task-2", sent.capability)
    assert not codec.capability_ok(codec.capability_key("another-token"), "task-1", sent.capability)
    decoded = codec.decode(codec.encode({"r": _Exported(ref)}))["r"]  # no ref decoder: the ref itself
    assert decoded == sent and decoded.endpoint.token == ""


def test_an_unresolved_placeholder_travels_as_its_reference_and_a_resolved_one_as_its_value():
    key = codec.capability_key("t")
    pending = AsyncResult(codec.ResultRef(codec.public(codec.Endpoint("h", 1, "t")), "task-9", key=key))
    seen = []
    decoded = codec.decode(codec.encode([pending]), refs=lambda r: seen.append(r) or "fetching")
    assert decoded == ["fetching"] and seen[0].task_id == "task-9" and pending.exported
    done = AsyncResult()
    done._set_result(Msg("a", "value"))  # pylint: disable=protected-access
    assert codec.decode(codec.encode([done]))[0].content == "value"
    assert pickle.loads(pickle.dumps(done)).content == "value"  # pickles as its value


class _Exported:
    def __init__(self, ref):
        self.ref = ref

    def __agentscope_ref__(self):
        return self.ref


@pytest.mark.parametrize(
    ("error", "code", "raised"),
    [
        (exc.AuthenticationError("x"), grpc.StatusCode.UNAUTHENTICATED, exc.AuthenticationError),
        (exc.AgentNotFoundError("x"), grpc.StatusCode.NOT_FOUND, exc.AgentNotFoundError),
        (exc.MessageTooLargeError("x"), grpc.StatusCode.RESOURCE_EXHAUSTED, exc.MessageTooLargeError),
        (exc.AgentCreationError("x"), grpc.StatusCode.FAILED_PRECONDITION, exc.AgentCreationError),
        (exc.ResultExpiredError("x"), grpc.StatusCode.DATA_LOSS, exc.ResultExpiredError),
        (exc.StreamCancelledError("x"), grpc.StatusCode.CANCELLED, exc.StreamCancelledError),
        (PermissionError("x"), grpc.StatusCode.PERMISSION_DENIED, exc.AgentServerError),
        (FileExistsError("x"), grpc.StatusCode.ALREADY_EXISTS, exc.AgentServerError),
        (ValueError("x"), grpc.StatusCode.INVALID_ARGUMENT, exc.AgentServerError),
    ],
)
def test_the_one_error_status_mapping(error, code, raised):
    refused = codec.refusal(error)
    assert refused.code == code.value[0] and type(error).__name__ in refused.details
    assert type(codec.error_for_status(refused.code, refused.details)) is raised


def test_a_broken_connection_is_a_dead_server():
    for code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL):
        error = codec.error_for_status(code, "gone", codec.Endpoint("h", 7))
        assert isinstance(error, exc.AgentServerNotAliveError) and (error.host, error.port) == ("h", 7)


def test_remote_errors_keep_type_message_and_traceback():
    try:
        raise KeyError("missing")
    except KeyError as err:
        remote = codec.error_to_pb(err)
    back = codec.error_from_pb(remote, "agent-1")
    assert back.remote_type == "KeyError" and "missing" in back.remote_message
    assert "raise KeyError" in back.remote_traceback and back.agent_id == "agent-1"
    assert codec.error_to_pb(back).type == "KeyError"  # a nested failure keeps the original


def _items(frame_bytes: bytes) -> list:
    return list(pb.ClientFrame.FromString(frame_bytes).items)


def test_frames_pack_items_in_order_and_split_a_large_one_into_parts():
    small = [pb.ClientItem(cancel=f"c{i}") for i in range(3)]
    big = pb.ClientItem(call=pb.CallRequest(task_id="big", args=pb.Payload(data=b"x" * (frames.FRAME_BYTES * 2 + 5))))
    stream = [("", small[0].SerializeToString()), ("big", big.SerializeToString()),
              ("", small[1].SerializeToString()), ("", small[2].SerializeToString())]
    out = list(frames.pack(stream, pb.ClientItem))
    assert len(out) >= 4  # the big item takes frames of its own
    reassembler = frames.Reassembler(pb.ClientItem, 10 * frames.FRAME_BYTES)
    received = []
    for frame in out:
        for item in _items(frame):
            if item.WhichOneof("item") == "part":
                item = reassembler.feed(item.part)
                if item is None:
                    continue
            received.append(item)
    assert received == [small[0], big, small[1], small[2]]


def test_an_item_over_the_limit_fails_only_itself():
    big = pb.ClientItem(call=pb.CallRequest(task_id="too-big", args=pb.Payload(data=b"y" * (frames.FRAME_BYTES * 3))))
    after = pb.ClientItem(cancel="after")
    out = list(frames.pack([("too-big", big.SerializeToString()), ("", after.SerializeToString())], pb.ClientItem))
    reassembler = frames.Reassembler(pb.ClientItem, frames.FRAME_BYTES)
    refused, received = [], []
    for frame in out:
        for item in _items(frame):
            if item.WhichOneof("item") == "part":
                try:
                    item = reassembler.feed(item.part)
                except frames.PartTooLarge as err:
                    refused.append(err.request_id)
                    continue
                if item is None:
                    continue
            received.append(item)
    assert refused == ["too-big"] and received == [after]
