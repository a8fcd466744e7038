"""Alembic environment: always run from code with a live connection (see app.db.migrate)."""

from alembic import context

from app.db.models import Base, managed_by_models

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
    include_object=managed_by_models,
    user_module_prefix="app.db.base.",
)
with context.begin_transaction():
    context.run_migrations()
