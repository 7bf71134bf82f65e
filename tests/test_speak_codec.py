"""The speak wire format alone (rpc/speak_codec.py): a round trip over random speech.

Random interleavings of several messages — text deltas, hook rewrites
(replace), non-text content, generators failing mid-message, whole messages
— go through a small `SpeakBuffer` (so that steps fold, as under
backpressure), are taken at random points, serialized, parsed, and decoded
by a `SpeakDecoder`.  Whatever folding happened, the receiver must end each
message with exactly the producer's content, `last` exactly once for a
message that completed, chunks in order with no duplicate, and an error at
the point a generator failed.
"""
from __future__ import annotations

import random

from agentscope_rpc.message import Msg
from agentscope_rpc.rpc import codec
from agentscope_rpc.rpc._proto import agent_server_pb2 as pb
from agentscope_rpc.rpc.speak_codec import SpeakBuffer, SpeakDecoder
from agentscope_rpc.speech import SpeakEvent


class _Spoken:
    """What a producer said, message by message."""

    def __init__(self) -> None:
        self.final: dict[str, object] = {}
        self.completed: set = set()
        self.failed: set = set()
        self.order: list = []


def _speech(rng: random.Random, spoken: _Spoken) -> list:
    """A random interleaving of the events of up to 4 messages."""
    streams = []
    for m in range(rng.randint(1, 4)):
        msg_id = f"m{m}-{rng.random():.6f}"
        spoken.order.append(msg_id)
        kind = rng.choice(["stream", "stream", "stream", "whole", "dict"])
        events = []
        if kind == "whole":
            text = "".join(rng.choice("abc ") for _ in range(rng.randint(0, 20)))
            events.append(SpeakEvent(Msg("w", text, "assistant", id=msg_id), False, True, 0, "agent-w", delta=text))
            spoken.final[msg_id], _ = text, spoken.completed.add(msg_id)
        elif kind == "dict":
            content = {"k": rng.randint(0, 9), "v": [1, "two"]}
            events.append(SpeakEvent(Msg("d", content, "assistant", id=msg_id), False, True, 0, "agent-d"))
            spoken.final[msg_id], _ = content, spoken.completed.add(msg_id)
        else:
            text, seq = "", 0
            for _ in range(rng.randint(0, 60)):
                roll = rng.random()
                if roll < 0.08:  # a pre_speak hook rewrote the message: the whole text, no delta
                    text = "<" + text[: rng.randint(0, len(text))] + ">"
                    events.append(SpeakEvent(Msg("s", text, "assistant", id=msg_id), True, False, seq, "agent-s"))
                else:
                    delta = "".join(rng.choice("xyz.,") for _ in range(rng.randint(0, 5)))
                    text += delta
                    snapshot = text
                    events.append(SpeakEvent(None, True, False, seq, "agent-s", delta=delta,
                                             build=lambda s=snapshot, i=msg_id: Msg("s", s, "assistant", id=i),
                                             head=(msg_id, "s", "assistant", None)))
                seq += 1
            if rng.random() < 0.2:  # the generator raised
                events.append(SpeakEvent(None, True, False, seq, "agent-s", ValueError("boom"), "",
                                         build=lambda s=text, i=msg_id: Msg("s", s, "assistant", id=i),
                                         head=(msg_id, "s", "assistant", None)))
                spoken.failed.add(msg_id)
            else:
                events.append(SpeakEvent(None, True, True, seq, "agent-s", delta="",
                                         build=lambda s=text, i=msg_id: Msg("s", s, "assistant", id=i),
                                         head=(msg_id, "s", "assistant", None)))
                spoken.completed.add(msg_id)
            spoken.final[msg_id] = text
        streams.append(events)
    out = []
    while any(streams):  # interleave, keeping each message's own order
        stream = rng.choice([s for s in streams if s])
        out.append(stream.pop(0))
    return out


def _wire(batch: pb.SpeakBatch) -> pb.SpeakBatch:
    return pb.SpeakBatch.FromString(batch.SerializeToString())


def test_round_trip_over_random_speech() -> None:
    for seed in range(200):
        _round_trip(seed)


def _round_trip(seed: int) -> None:
    rng = random.Random(seed)
    spoken = _Spoken()
    buffer = SpeakBuffer(max_steps=rng.choice([1, 2, 4, 64]))
    decoder = SpeakDecoder()
    received: list = []

    def take() -> None:
        for kind, value in buffer.take(codec.encode):
            assert kind == "speak"
            for delta in _wire(value).deltas:
                event = decoder.decode(delta)
                if event is not None:
                    received.append(event)

    sent = _speech(rng, spoken)
    first_sent = list(dict.fromkeys(event.msg_id for event in sent))
    for event in sent:
        step = buffer.step(event)
        while not buffer.offer(step, fold=True):
            take()  # the consumer catches up before a step that cannot fold
        if rng.random() < 0.3:
            take()
    take()

    latest: dict = {}
    lasts: dict = {}
    errors: dict = {}
    seqs: dict = {}
    first_seen: list = []
    for event in received:
        msg = event.msg
        if msg.id not in first_seen:
            first_seen.append(msg.id)
        assert msg.id not in lasts, "an event after the message's last"
        assert seqs.get(msg.id, -1) < event.seq, "chunks out of order or duplicated"
        seqs[msg.id] = event.seq
        latest[msg.id] = msg.content
        if event.delta is not None and isinstance(msg.content, str):
            assert msg.content.endswith(event.delta)
        if event.error is not None:
            errors[msg.id] = event.error
        if event.last:
            lasts[msg.id] = lasts.get(msg.id, 0) + 1
    assert first_seen == first_sent  # messages start in the order they were spoken
    for msg_id in spoken.order:
        assert latest[msg_id] == spoken.final[msg_id], f"seed {seed}, {msg_id}"
        if msg_id in spoken.completed:
            assert lasts.get(msg_id) == 1
        if msg_id in spoken.failed:
            assert msg_id in errors and msg_id not in lasts
    assert decoder.open_messages() == []


def test_folding_costs_do_not_grow_with_the_message() -> None:
    # 200,000 one-character deltas folded into one step: the piece list stays short
    buffer = SpeakBuffer(max_steps=1)
    events = [SpeakEvent(None, True, False, i, "a", delta="x", head=("m", "s", "assistant", None))
              for i in range(200_000)]
    for event in events:
        step = buffer.step(event)
        assert buffer.offer(step, fold=True)
    (kind, batch), = buffer.take(codec.encode)
    assert kind == "speak" and len(batch.deltas) == 1
    assert batch.deltas[0].delta == "x" * 200_000 and batch.deltas[0].seq == 199_999
    assert len(buffer._items) == 0  # pylint: disable=protected-access


def test_a_decoder_ends_open_messages_with_the_error() -> None:
    decoder = SpeakDecoder()
    decoder.decode(pb.SpeakDelta(msg_id="m", seq=0, delta="half", stream=True, name="n"))
    (event,) = decoder.abort(RuntimeError("stream broke"))
    assert event.msg.content == "half" and isinstance(event.error, RuntimeError) and not event.last
    assert decoder.open_messages() == []
