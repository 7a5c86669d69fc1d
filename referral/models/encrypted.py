"""Encrypted fields: a LargeBinary column plus a descriptor that seals and opens it.

Services read and write plain values (`subject.given_name = "Ana"`); the value waits in
memory and is sealed just before flush with the owning subject's data key, bound to
table, column and row. Nothing outside this module and services.crypto sees ciphertext.
"""

import json
from datetime import date

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, mapped_column

from referral.services import crypto

PENDING = "_encrypted_pending"


def encrypted_column(name: str):
    """The storage column of an encrypted field (bytes, NULL when empty or erased)."""
    return mapped_column(name, sa.LargeBinary, nullable=True)


class EncryptedField:
    """Descriptor over an encrypted column: `kind` is str, int or date."""

    def __init__(self, storage_attr: str, kind=str):
        self.storage_attr = storage_attr
        self.kind = kind

    def __set_name__(self, owner, name):
        self.name = name

    def _aad(self, obj) -> bytes:
        column = self.storage_attr.lstrip("_")
        return f"{obj.__tablename__}.{column}.{obj.id}".encode()

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        pending = obj.__dict__.get(PENDING, {})
        if self.name in pending:
            return pending[self.name]
        blob = getattr(obj, self.storage_attr)
        if not blob:
            return None
        dek = obj.data_key_bytes()
        if dek is None:  # erased: the key is gone, the value with it
            return None
        return self._decode(crypto.open_sealed(dek, blob, self._aad(obj)))

    def __set__(self, obj, value):
        if value is not None and not isinstance(value, self.kind):
            raise TypeError(f"{self.name} takes {self.kind.__name__}")
        if isinstance(value, str) and value.strip() == "":
            value = None
        obj.__dict__.setdefault(PENDING, {})[self.name] = value
        # Mark the row dirty now; the real bytes are written in before_flush.
        setattr(obj, self.storage_attr, b"" if value is not None else None)

    def _decode(self, raw: bytes):
        value = json.loads(raw)
        return date.fromisoformat(value) if self.kind is date else value

    def seal(self, obj, value):
        if value is None:
            setattr(obj, self.storage_attr, None)
            return
        encoded = json.dumps(value.isoformat() if isinstance(value, date) else value)
        dek = obj.data_key_bytes(create=True)
        setattr(obj, self.storage_attr, crypto.seal(dek, encoded.encode(), self._aad(obj)))


def encrypted_fields(cls):
    return {
        name: attr for klass in cls.__mro__ for name, attr in vars(klass).items()
        if isinstance(attr, EncryptedField)
    }


@event.listens_for(Session, "before_flush")
def _seal_pending(session, flush_context, instances):
    for obj in list(session.new) + list(session.dirty):
        pending = obj.__dict__.get(PENDING)
        if not pending:
            continue
        fields = encrypted_fields(type(obj))
        for name, value in list(pending.items()):
            fields[name].seal(obj, value)
        obj.__dict__.pop(PENDING, None)
