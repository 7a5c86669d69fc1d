"""Key ring and envelope encryption (DESIGN.md, Encryption).

Key-encryption keys (KEKs) live in a JSON file outside the database, mode 0600. Each
subject has its own data key (DEK), stored only wrapped by a KEK. Fields are AES-256-GCM
with associated data naming table, column and row, so a ciphertext moved elsewhere fails.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

FORMAT_VERSION = 1
FIELD_VERSION = b"\x01"
NONCE_BYTES = 12


class KeyringError(RuntimeError):
    """The key ring is missing, unreadable or malformed; the message says what to do."""


class DecryptionError(RuntimeError):
    """A ciphertext does not open with its key and associated data (tampered or moved)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def new_kek_id() -> str:
    return datetime.now(UTC).strftime("kek-%Y%m%d-") + secrets.token_hex(3)


@dataclass
class Keyring:
    """The KEKs, which one is current, and the blind-index key."""

    path: Path
    keks: dict[str, bytes]
    current: str
    index_key: bytes
    created: dict[str, str] = field(default_factory=dict)

    # -- files -------------------------------------------------------------------------

    @classmethod
    def create(cls, path) -> "Keyring":
        """Write a new key ring; refuse to overwrite one that exists."""
        path = Path(path)
        kek_id = new_kek_id()
        ring = cls(
            path=path,
            keks={kek_id: AESGCM.generate_key(bit_length=256)},
            current=kek_id,
            index_key=secrets.token_bytes(32),
            created={kek_id: datetime.now(UTC).isoformat()},
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise KeyringError(f"a key ring already exists at {path}; not overwriting it") from exc
        with os.fdopen(fd, "w") as handle:
            handle.write(ring._serialize())
            handle.flush()
            os.fsync(handle.fileno())
        return ring

    @classmethod
    def load(cls, path) -> "Keyring":
        path = Path(path)
        hint = "create one with `flask --app referral keys init` or set REFERRAL_KEYRING"
        if not path.exists():
            raise KeyringError(f"no key ring at {path}: {hint}")
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            raw = path.read_text("utf-8")
        except OSError as exc:
            raise KeyringError(f"the key ring at {path} is unreadable ({exc.strerror})") from exc
        if mode & 0o077:
            raise KeyringError(
                f"the key ring at {path} is readable by others (mode {mode:o}); chmod 600 it"
            )
        try:
            data = json.loads(raw)
            keks = {item["id"]: _unb64(item["key"]) for item in data["keks"]}
            created = {item["id"]: item.get("created_at", "") for item in data["keks"]}
            ring = cls(path, keks, data["current"], _unb64(data["index_key"]), created)
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyringError(f"the key ring at {path} is malformed") from exc
        if ring.current not in ring.keks or any(len(k) != 32 for k in ring.keks.values()):
            raise KeyringError(f"the key ring at {path} is malformed")
        return ring

    def _serialize(self) -> str:
        return json.dumps(
            {
                "version": FORMAT_VERSION,
                "current": self.current,
                "keks": [
                    {"id": kid, "key": _b64(key), "created_at": self.created.get(kid, "")}
                    for kid, key in self.keks.items()
                ],
                "index_key": _b64(self.index_key),
            },
            indent=2,
        )

    def add_kek(self) -> str:
        """Add a new KEK, make it current, and save the file atomically (still 0600)."""
        kek_id = new_kek_id()
        while kek_id in self.keks:
            kek_id = new_kek_id()
        self.keks[kek_id] = AESGCM.generate_key(bit_length=256)
        self.created[kek_id] = datetime.now(UTC).isoformat()
        self.current = kek_id
        self.save()
        return kek_id

    def save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self._serialize())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    # -- data keys -----------------------------------------------------------------------

    def wrap(self, dek: bytes, owner: str) -> tuple[str, bytes]:
        """Wrap a data key under the current KEK, bound to its owner's id."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keks[self.current]).encrypt(nonce, dek, b"dek:" + owner.encode())
        return self.current, nonce + sealed

    def unwrap(self, kek_id: str, wrapped: bytes, owner: str) -> bytes:
        try:
            kek = self.keks[kek_id]
        except KeyError as exc:
            raise KeyringError(f"key {kek_id} is not in the key ring") from exc
        try:
            return AESGCM(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:],
                                       b"dek:" + owner.encode())
        except InvalidTag as exc:
            raise DecryptionError("a data key does not open with its KEK") from exc

    # -- keyed digests -------------------------------------------------------------------

    def subkey(self, purpose: str) -> bytes:
        """A key for one purpose, derived from the index key (never a KEK)."""
        cache = self.__dict__.setdefault("_subkeys", {})
        if purpose not in cache:
            cache[purpose] = HKDF(hashes.SHA256(), 32, salt=None, info=purpose.encode()).derive(
                self.index_key
            )
        return cache[purpose]

    def digest(self, purpose: str, message: bytes) -> str:
        return hmac.new(self.subkey(purpose), message, hashlib.sha256).hexdigest()


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(dek: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return FIELD_VERSION + nonce + AESGCM(dek).encrypt(nonce, plaintext, aad)


def open_sealed(dek: bytes, blob: bytes, aad: bytes) -> bytes:
    if blob[:1] != FIELD_VERSION:
        raise DecryptionError("unknown ciphertext format")
    try:
        return AESGCM(dek).decrypt(blob[1:1 + NONCE_BYTES], blob[1 + NONCE_BYTES:], aad)
    except InvalidTag as exc:
        raise DecryptionError("a field does not open with its key and place") from exc


def keyring() -> Keyring:
    """The application's key ring, loaded once per process."""
    ext = current_app.extensions
    ring = ext.get("referral.keyring")
    if ring is None:
        ring = Keyring.load(current_app.config["KEYRING"])
        ext["referral.keyring"] = ring
    return ring
