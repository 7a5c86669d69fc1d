"""`flask facilities ...`."""

from flask.cli import AppGroup

group = AppGroup("facilities")
