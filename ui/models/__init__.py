"""Thin Qt table models over the frozen rows the services return."""
