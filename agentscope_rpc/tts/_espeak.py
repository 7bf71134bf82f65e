"""The programs speech needs: espeak-ng (finding it, one synthesis run) and an audio player.

`INSTALL_HINT`, `TTSUnavailableError`, `find_espeak` and `find_player` are
re-exported by `agentscope_rpc.tts`.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import wave
from pathlib import Path
from typing import Optional

from ..exception import AgentScopeRpcError

INSTALL_HINT = "apt-get install -y espeak-ng"  # documented where agentscope_rpc.tts re-exports it


class TTSUnavailableError(AgentScopeRpcError, RuntimeError):
    """The speech synthesizer (espeak-ng) or the requested audio player is missing or broken."""


def find_espeak(binary: str = "espeak-ng") -> str:
    """The full path of the synthesizer `binary`, after checking that it runs.

    Raises `TTSUnavailableError` (with the `apt-get` line that installs it)
    when it is missing or does not run.  `Speaker` calls it first thing.
    """
    path = shutil.which(binary)
    if path is None:
        raise TTSUnavailableError(
            f"the speech synthesizer {binary!r} is not installed (Debian/Ubuntu, as root: {INSTALL_HINT}; "
            f"or `make sysdeps`)")
    try:
        done = subprocess.run([path, "--version"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise TTSUnavailableError(f"{path} does not run ({err}); reinstall it: {INSTALL_HINT}") from None
    if done.returncode != 0:
        raise TTSUnavailableError(
            f"{path} --version failed (exit status {done.returncode}); reinstall it: {INSTALL_HINT}")
    return path


def find_player() -> Optional[list]:
    """The command that plays a WAV file on this machine's audio output, or None if it has none.

    `paplay` when a PulseAudio/PipeWire server is reachable (`PULSE_SERVER`,
    or a socket in `$XDG_RUNTIME_DIR/pulse`), else `aplay -q` when ALSA has
    a playback device (`/dev/snd/pcm*p`).  The file's path is appended.
    """
    paplay = shutil.which("paplay")
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "")
    if paplay and (os.environ.get("PULSE_SERVER")
                   or (runtime_dir and os.path.exists(os.path.join(runtime_dir, "pulse", "native")))):
        return [paplay]
    aplay = shutil.which("aplay")
    try:
        devices = os.listdir("/dev/snd")
    except OSError:
        devices = []
    if aplay and any(name.startswith("pcm") and name.endswith("p") for name in devices):
        return [aplay, "-q"]
    return None


class _SynthesisError(Exception):
    """One espeak-ng run gave no usable WAV file; the message says why."""


def _synthesize_wav(binary: str, voice: str, rate: Optional[int], text: str, path: Path, timeout: float) -> float:
    """Speak `text` into the WAV file `path` with espeak-ng `binary`; returns the file's duration in seconds.

    `espeak-ng -v VOICE -b 1 -w PATH [-s RATE] --stdin`, with the text
    (UTF-8) on stdin, killed after `timeout` seconds.  Raises
    `_SynthesisError` when it fails, times out or writes no readable WAV.
    """
    command = [binary, "-v", voice, "-b", "1", "-w", str(path)]
    if rate is not None:
        command += ["-s", str(rate)]
    command.append("--stdin")
    try:
        done = subprocess.run(command, input=text.encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise _SynthesisError(f"espeak-ng took longer than {timeout:g} s") from None
    if done.returncode != 0 or not path.exists():
        raise _SynthesisError(done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}")
    try:
        with wave.open(str(path), "rb") as audio:
            return audio.getnframes() / float(audio.getframerate() or 1)
    except (wave.Error, EOFError) as err:
        raise _SynthesisError(f"espeak-ng wrote no usable WAV ({err})") from None
