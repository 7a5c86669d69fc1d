"""Domain exceptions and the one JSON error handler (API.md error shape)."""

import logging
from traceback import format_tb

from flask import jsonify, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "bad_request",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


class DomainError(Exception):
    """Base of the errors services raise; each maps to one HTTP status."""

    status = 400
    default_message = "bad request"

    def __init__(self, message=None, fields=None, headers=None):
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.fields = fields
        self.headers = headers or {}


class BadRequest(DomainError):
    status, default_message = 400, "the request body must be a JSON object"


class Unauthorized(DomainError):
    status, default_message = 401, "missing or invalid credentials"


class Forbidden(DomainError):
    status, default_message = 403, "your role may not use this endpoint"


class NotFound(DomainError):
    status, default_message = 404, "not found"


class Conflict(DomainError):
    status, default_message = 409, "the object's state does not allow this"


class TooLarge(DomainError):
    status, default_message = 413, "the request is over its size limit"


class Invalid(DomainError):
    status, default_message = 422, "the request is not valid"


class RateLimited(DomainError):
    status, default_message = 429, "too many attempts, try again later"

    def __init__(self, retry_after: int, message=None):
        super().__init__(message, headers={"Retry-After": str(max(1, int(retry_after)))})
        self.retry_after = retry_after


def flatten_messages(messages, prefix="") -> dict:
    """Turn marshmallow's nested error dict into {"a.b": [msg, ...]}."""
    flat = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = key if key != "_schema" else ""
            path = f"{prefix}.{name}" if prefix and name != "" else (prefix or str(name))
            if isinstance(value, dict):
                flat.update(flatten_messages(value, path))
            else:
                flat.setdefault(path or "_body", []).extend(
                    value if isinstance(value, list) else [value]
                )
    elif isinstance(messages, list):
        flat[prefix or "_body"] = list(messages)
    return flat


def error_response(status, message, fields=None, headers=None):
    body = {"code": CODES.get(status, "error"), "message": message}
    if fields:
        body["fields"] = fields
    response = jsonify({"error": body})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def handle_domain_error(error: DomainError):
    return error_response(error.status, error.message, error.fields, error.headers)


def _wants_page() -> bool:
    """A browser asking for a page that does not exist: answer with a page, not JSON."""
    return (not request.path.startswith("/api/") and request.path != "/healthz"
            and request.accept_mimetypes.best_match(["application/json", "text/html"])
            == "text/html")


def handle_http_exception(error: HTTPException):
    """Werkzeug and webargs errors, in our shape. Parser messages give `fields`."""
    if _wants_page():
        from referral.blueprints.web.pages import error_page

        return error_page(error)
    status = error.code or 500
    fields = None
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    if messages:
        # webargs nests by location ("json", "query"); the location is not a field name.
        if isinstance(messages, dict) and len(messages) == 1:
            (location, inner), = messages.items()
            if location in {"json", "query", "querystring", "headers", "form"}:
                messages = inner
        fields = flatten_messages(messages)
    if status == 400 and isinstance(error, CSRFError):
        message = "the CSRF token is missing or wrong: send the page's token as X-CSRFToken"
    elif status == 400:
        message = "the request body is not valid JSON, or not a JSON object"
    elif status == 422:
        message = "the request is not valid"
    else:
        message = (error.description or error.name or "error").rstrip(".")
        if status == 404:
            message = "not found"
    headers = dict(error.get_headers()) if status == 405 else {}
    headers.pop("Content-Type", None)
    return error_response(status, message, fields, headers)


def handle_unexpected(error: Exception):
    # The frames but not the message: a database error's message quotes the values bound.
    log.error("unhandled %s\n%s", type(error).__name__, "".join(format_tb(error.__traceback__)))
    if request.blueprint == "web" or _wants_page():
        from referral.blueprints.web.pages import error_page

        return error_page(InternalServerError())
    return error_response(500, "internal error")


def register_error_handlers(app):
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
