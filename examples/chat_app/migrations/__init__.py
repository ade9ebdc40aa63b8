"""Alembic migrations, run by the app at start (``database.migrate``)."""
