"""`python -m agentscope_rpc.server ...` is `as_server ...`."""
import sys

from .cli import main

sys.exit(main())
