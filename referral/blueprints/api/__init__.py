"""The JSON API under /api/v1: one module per resource, built on this Blueprint."""

import flask_smorest
from webargs.flaskparser import FlaskParser

from referral.errors import BadRequest


class JsonObjectParser(FlaskParser):
    """A JSON body must be JSON, and an object: anything else is 400 (API.md)."""

    def load_json(self, req, schema):
        if getattr(schema, "empty_body_ok", False) and not req.get_data(cache=True):
            return {}  # an optional body (decline, cancel) may be left out
        if not req.is_json:
            raise BadRequest("the body must be JSON (Content-Type: application/json)")
        data = super().load_json(req, schema)
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object")
        return data


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = JsonObjectParser()
