"""Key ring and envelope encryption (DESIGN.md, Encryption).

Key-encryption keys (KEKs) live in a JSON file outside the database, mode 0600. Each
subject has its own data key (DEK), stored only wrapped by a KEK. Fields are AES-256-GCM
with associated data naming table, column and row, so a ciphertext moved elsewhere fails.
"""

import base64
import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
from contextlib import contextmanager
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

log = logging.getLogger(__name__)


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
    # (inode, mtime, size) of the file as last read or written, to notice other writers.
    stamp: tuple | None = field(default=None, compare=False, repr=False)

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
        _fsync_dir(path.parent)
        ring.stamp = _stamp(path)
        return ring

    @classmethod
    def load(cls, path) -> "Keyring":
        path = Path(path)
        hint = "create one with `flask --app referral keys init` or set REFERRAL_KEYRING"
        if not path.exists():
            raise KeyringError(f"no key ring at {path}: {hint}")
        try:
            stamp = _stamp(path)
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
            raise KeyringError(_malformed(path)) from exc
        if ring.current not in ring.keks or any(len(k) != 32 for k in ring.keks.values()):
            raise KeyringError(_malformed(path))
        ring.stamp = stamp
        return ring

    def reload(self) -> None:
        """Re-read the file in place (another process may have rotated or retired)."""
        fresh = Keyring.load(self.path)
        if fresh.index_key != self.index_key:
            self.__dict__.pop("_subkeys", None)
        self.keks, self.current, self.index_key = fresh.keks, fresh.current, fresh.index_key
        self.created, self.stamp = fresh.created, fresh.stamp

    def changed_on_disk(self) -> bool:
        try:
            return _stamp(self.path) != self.stamp
        except OSError:
            return False  # gone or unreadable: keep serving with the keys in memory

    @contextmanager
    def _lock(self, how: int):
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, how)
            except BlockingIOError as exc:
                raise KeyringError("a key rotation is running; try again once it ends") from exc
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @contextmanager
    def _locked(self, wait: bool = True):
        """Hold an exclusive lock on the file, read it afresh, and let the caller edit it.

        Two `keys rotate` at once must not each save a ring missing the other's new KEK."""
        with self._lock(fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB):
            self.reload()
            yield self

    def rotating(self):
        """A shared lock held for a whole rotation, so no KEK is retired meanwhile."""
        return self._lock(fcntl.LOCK_SH)

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
        with self._locked():
            kek_id = new_kek_id()
            while kek_id in self.keks:
                kek_id = new_kek_id()
            self.keks[kek_id] = AESGCM.generate_key(bit_length=256)
            self.created[kek_id] = datetime.now(UTC).isoformat()
            self.current = kek_id
            self.save()
        return kek_id

    def remove_kek(self, kek_id: str, check=None) -> None:
        """Drop a KEK from the file; `check()` runs under the lock and raises to refuse.

        Refused at once, not awaited, while a rotation holds the ring."""
        with self._locked(wait=False):
            if kek_id not in self.keks:
                raise KeyringError(f"key {kek_id} is not in the key ring at {self.path}")
            if kek_id == self.current:
                raise KeyringError(f"key {kek_id} is the current key; rotate first")
            if check is not None:
                check()
            del self.keks[kek_id]
            self.created.pop(kek_id, None)
            self.save()

    def save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), 0o600)  # a stale .tmp may have kept another mode
            handle.write(self._serialize())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)  # the rename itself must survive a power cut
        self.stamp = _stamp(self.path)

    # -- data keys -----------------------------------------------------------------------

    def wrap(self, dek: bytes, owner: str, kek_id: str | None = None) -> tuple[str, bytes]:
        """Wrap a data key under the current KEK (or the one named), bound to its owner."""
        kek_id = kek_id or self.current
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keks[kek_id]).encrypt(nonce, dek, b"dek:" + owner.encode())
        return kek_id, nonce + sealed

    def unwrap(self, kek_id: str, wrapped: bytes, owner: str) -> bytes:
        """Open a wrapped data key; re-read the file once if its KEK is unknown here."""
        if kek_id not in self.keks:
            try:
                self.reload()  # another process may have rotated since we loaded
            except KeyringError as exc:
                log.warning("key ring reload failed: %s", exc)
        try:
            kek = self.keks[kek_id]
        except KeyError as exc:
            raise KeyringError(f"key {kek_id} is not in the key ring at {self.path}") from exc
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


def _stamp(path: Path) -> tuple:
    info = path.stat()
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _malformed(path: Path) -> str:
    # Never quote the content: it holds keys.
    return (f"the key ring at {path} is malformed (not a key ring written by `keys init`); "
            "restore it from its backup")


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
    """The application's key ring, loaded once per process and re-read when the file changes.

    Re-reading matters after `keys rotate` in another process: new data keys must be
    wrapped by the new current KEK, not by one an operator may retire next."""
    ext = current_app.extensions
    ring = ext.get("referral.keyring")
    if ring is None:
        ring = Keyring.load(current_app.config["KEYRING"])
        ext["referral.keyring"] = ring
    elif ring.changed_on_disk():
        try:
            ring.reload()
        except KeyringError as exc:
            log.warning("key ring changed on disk but could not be re-read: %s", exc)
    return ring
