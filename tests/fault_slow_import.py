"""A module that takes 3 s to import (for tests/test_security_code_shipping.py)."""
import time

time.sleep(3)  # an import that blocks: a server must not run it on its event loop
