"""Alembic environment: adaptlab.registry.database passes an open connection (already inside the
transaction that holds the migration lock) as `config.attributes["connection"]`."""

from alembic import context

from adaptlab.registry.tables import Base

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=Base.metadata,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
