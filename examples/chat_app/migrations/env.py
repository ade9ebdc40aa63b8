"""Alembic's entry point: runs the migrations on the connection that
``store._run_migrations`` hands over (``ChatStore.prepare`` calls it at start)."""

from __future__ import annotations

from alembic import context

context.configure(connection=context.config.attributes["connection"], render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
