"""Alembic migrations, shipped inside the package so a frozen build finds them."""

# The newest revision in versions/: start-up compares the database with it without importing
# Alembic. A test checks it equals Alembic's own head, so a new migration must update it.
SCHEMA_HEAD = "0010"
