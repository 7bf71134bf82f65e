"""Names of the environment variables more than one layer reads (no imports, so any layer may use it)."""

TOKEN_ENV = "AGENTSCOPE_RPC_TOKEN"  # where servers and clients read the auth token from by default
