"""Werewolf across machines: six distributed players, a plain-Python moderator.

Run `python examples/distributed/werewolf/main.py` (see README.md).
"""
