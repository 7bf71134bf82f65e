"""The package version (one place; setup.cfg reads it)."""
__version__ = "0.1.0"
"""The version of agentscope-rpc (PEP 440); setup.cfg reads it from here."""
