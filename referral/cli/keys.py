"""`flask keys ...`."""

from flask.cli import AppGroup

group = AppGroup("keys")
