"""Alembic's environment: migrations run on the connection webui.feedback.store hands over (in
its transaction, under its lock), never on one of their own, so no alembic.ini is needed. A new
revision is a file in versions/ whose `down_revision` is the latest one's (docs/webui.md).
"""

from __future__ import annotations

from alembic import context

from webui.feedback.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
