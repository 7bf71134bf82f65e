"""A module that ends the process importing it (for tests/test_security_code_shipping.py)."""
raise SystemExit(7)
