"""Small helpers AgentScope 0.1.6 programs import (`agentscope_rpc.utils.common`)."""
