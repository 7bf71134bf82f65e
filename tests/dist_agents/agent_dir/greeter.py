"""An agent class that servers load with `--agent-dir` (not imported by tests)."""
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg


class DirGreeter(AgentBase):
    """Greets with a marker that says which class ran."""

    def reply(self, x=None):
        who = x.content if x is not None else "nobody"
        return Msg(self.name, f"hello {who}, from the agent dir")
