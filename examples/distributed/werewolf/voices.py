"""`--tts DIR`: the game read aloud, one espeak-ng voice per speaker (agentscope_rpc.tts)."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Iterable, Optional

FLUSH_S = 60.0  # how long the end of a game may wait for its last sentences to be written


def tts_problem(directory: str) -> Optional[str]:
    """Why `--tts DIR` cannot work (espeak-ng missing, DIR not writable), checked before any server starts."""
    from agentscope_rpc.tts import TTSUnavailableError, find_espeak

    try:
        find_espeak()
    except TTSUnavailableError as err:
        return f"--tts: {err}"
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"--tts: {err.strerror}: {directory}"
    if not os.access(directory, os.W_OK):
        return f"--tts: cannot write to {directory}"
    return None


def open_speaker(directory: str, names: Iterable[str], narrator: Any) -> Any:
    """A Speaker writing to `directory`, voices given in order of `names`, on the narrator's speech."""
    from agentscope_rpc.tts import Speaker

    # the moderator first (its own voice), then the players in seat order; the
    # narrator also reads players' ballots and decisions, in their voices (by msg.name)
    speaker = Speaker(directory)
    for name in names:
        speaker.voice_for(name)
    speaker.attach(narrator)
    return speaker


def close_speaker(speaker: Any) -> None:
    """Write what is still queued (up to FLUSH_S) and say what was lost."""
    speaker.close(timeout=FLUSH_S)
    if speaker.errors or speaker.dropped:
        logging.getLogger("werewolf").warning(
            "--tts: %d sentence(s) failed and %d were dropped (see the warnings above)",
            speaker.errors, speaker.dropped)
