"""Pure-Python pharmacy rules: identifiers, roles, workflow vocabulary. No I/O, no Qt."""
