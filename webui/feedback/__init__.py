"""Corrections: people say which digit they meant, and the UI keeps it as labelled data.

`POST /api/feedback` (routes.py) validates a correction (request.py), limits each client's rate
in memory (ratelimit.py), asks TorchServe for the 28×28 the handler makes of the image, and stores
both in a database through SQLAlchemy (store.py; SQLite by default, PostgreSQL when
FEEDBACK_DATABASE_URL is set), whose schema Alembic migrates (migrations/). `make feedback-export`
(tools/feedback_export.py) turns the stored corrections into a training data set.
"""
