"""Watching processes a test started: has one exited, who is its parent."""
from __future__ import annotations

import os
import select
from pathlib import Path
from typing import Optional


def process_gone(pid: int, timeout: float) -> bool:
    """True once `pid` has exited within `timeout` seconds (a zombie counts: it runs nothing)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


def parent_pid(pid: int) -> Optional[int]:
    """The parent of `pid` from /proc (None if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])
