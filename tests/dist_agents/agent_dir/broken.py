"""A broken agent file: a server must log it and keep loading the others."""
raise ImportError("this agent file is broken on purpose")
