"""`flask audit ...`."""

from flask.cli import AppGroup

group = AppGroup("audit")
