"""HTML forms to the API's request bodies, validated by the API's own schemas.

A form field is named by its path in the JSON body (`subject.given_name`), so an error
that the schema reports on `subject.birth_date` is shown next to that very field.
"""

from flask import flash
from flask_babel import gettext as _
from marshmallow import ValidationError

from referral.errors import flatten_messages

BOOLEAN = "yes"


def _put(body: dict, path: str, value) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        body = body.setdefault(part, {})
    body[leaf] = value


def body_from(form, *, text=(), choices=(), lists=(), booleans=()) -> dict:
    """The JSON body a form stands for: blank fields left out, as the API would see them."""
    body: dict = {}
    for path in text:
        value = form.get(path, "").strip()
        if value:
            _put(body, path, value)
    for path in choices:
        if form.get(path):
            _put(body, path, form[path])
    for path in lists:
        _put(body, path, [value for value in form.getlist(path) if value])
    for path in booleans:
        _put(body, path, form.get(path) == BOOLEAN)
    return body


def load(schema, body: dict) -> tuple[dict | None, dict]:
    """(data, {}) when the body is valid, else (None, {field path: [messages]})."""
    try:
        return schema.load(body), {}
    except ValidationError as exc:
        return None, flatten_messages(exc.messages)


def flash_errors(error) -> None:
    """A domain error's messages, each in the page's language, for the next page."""
    for messages in (getattr(error, "fields", None) or {"_body": [error.message]}).values():
        for text in messages:
            flash(_(text), "error")


INTAKE = {
    "text": ("client_uuid", "subject.pseudonym", "subject.given_name", "subject.family_name",
             "subject.birth_date", "subject.age_estimate", "subject.phone", "notes"),
    "choices": ("subject.sex", "subject.nationality", "urgency", "travel_direction",
                "consent.method", "consent.given_by"),
    "lists": ("needs", "vulnerabilities", "subject.languages"),
    "booleans": ("consent.data_collection", "consent.referral_sharing",
                 "consent.follow_up_contact"),
}


def intake_body(form) -> dict:
    body = body_from(form, **INTAKE)
    subject = body.setdefault("subject", {})
    if "pseudonym" in subject:
        # A returning person: the pseudonym names them, the rest of the form is ignored.
        body["subject"] = {"pseudonym": subject["pseudonym"]}
    return body


REFERRAL = {
    "text": ("client_uuid", "reason"),
    "choices": ("to_facility_id", "share", "urgency"),
    "lists": ("services",),
}


def referral_body(form, case_id) -> dict:
    return {**body_from(form, **REFERRAL), "case_id": str(case_id)}
