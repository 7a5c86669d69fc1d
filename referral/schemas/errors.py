"""The error envelope, documented once for every endpoint."""

from marshmallow import Schema, fields


class ErrorBody(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    field_errors = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()), data_key="fields"
    )


class Error(Schema):
    error = fields.Nested(ErrorBody, required=True)
