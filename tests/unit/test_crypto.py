import json
import os
import stat

import pytest

from referral.services import crypto
from referral.services.crypto import DecryptionError, Keyring, KeyringError


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def ring_path(tmp_path):
    path = tmp_path / "keys" / "keyring.json"
    Keyring.create(path)
    return path


@pytest.fixture
def keyring_path(ring_path):
    """The app in these tests uses a private key ring, since some tests rotate it."""
    return ring_path


def test_a_new_key_ring_is_private_and_loads_back(tmp_path):
    path = tmp_path / "keyring.json"
    created = Keyring.create(path)
    assert mode_of(path) == 0o600
    loaded = Keyring.load(path)
    assert loaded.current == created.current
    assert loaded.keks == created.keks and loaded.index_key == created.index_key


def test_creating_a_key_ring_never_overwrites_one(ring_path):
    before = ring_path.read_bytes()
    with pytest.raises(KeyringError, match="already exists"):
        Keyring.create(ring_path)
    assert ring_path.read_bytes() == before


def test_a_missing_key_ring_error_says_how_to_make_one(tmp_path):
    with pytest.raises(KeyringError, match="keys init"):
        Keyring.load(tmp_path / "nowhere.json")


def test_a_key_ring_readable_by_others_is_refused(ring_path):
    ring_path.chmod(0o644)
    with pytest.raises(KeyringError, match="readable by others.*chmod 600"):
        Keyring.load(ring_path)


@pytest.mark.parametrize("content", ["{not json", '{"current": "x", "keks": []}', "[]"])
def test_a_malformed_key_ring_is_refused_without_quoting_it(ring_path, content):
    ring_path.write_text(content)
    with pytest.raises(KeyringError, match="malformed") as caught:
        Keyring.load(ring_path)
    assert content not in str(caught.value)


def test_a_wrapped_data_key_opens_only_for_its_owner(ring_path):
    ring = Keyring.load(ring_path)
    dek = crypto.new_data_key()
    kek_id, wrapped = ring.wrap(dek, "subject-a")
    assert ring.unwrap(kek_id, wrapped, "subject-a") == dek
    with pytest.raises(DecryptionError):
        ring.unwrap(kek_id, wrapped, "subject-b")


def test_a_field_opens_only_with_its_key_and_place():
    dek = crypto.new_data_key()
    blob = crypto.seal(dek, b'"Ana"', b"subjects.given_name.1")
    assert crypto.open_sealed(dek, blob, b"subjects.given_name.1") == b'"Ana"'
    with pytest.raises(DecryptionError):
        crypto.open_sealed(dek, blob, b"subjects.family_name.1")
    with pytest.raises(DecryptionError):
        crypto.open_sealed(crypto.new_data_key(), blob, b"subjects.given_name.1")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptionError):
        crypto.open_sealed(dek, tampered, b"subjects.given_name.1")


def test_unwrap_rereads_the_file_when_another_process_rotated(ring_path):
    here, elsewhere = Keyring.load(ring_path), Keyring.load(ring_path)
    new_id = elsewhere.add_kek()
    kek_id, wrapped = elsewhere.wrap(b"k" * 32, "subject-a")
    assert kek_id == new_id
    assert here.unwrap(kek_id, wrapped, "subject-a") == b"k" * 32
    assert here.current == new_id  # new data keys here now go under the new KEK too


def test_unwrap_of_a_key_absent_from_the_file_fails_after_one_reread(ring_path):
    ring = Keyring.load(ring_path)
    with pytest.raises(KeyringError, match="kek-gone"):
        ring.unwrap("kek-gone", b"\0" * 60, "subject-a")


def test_two_rotations_from_stale_copies_keep_both_new_keys(ring_path):
    first, second = Keyring.load(ring_path), Keyring.load(ring_path)
    a = first.add_kek()
    b = second.add_kek()  # second had not seen `a`; it must not drop it when saving
    on_disk = Keyring.load(ring_path)
    assert {a, b} <= set(on_disk.keks) and len(on_disk.keks) == 3
    assert on_disk.current == b and mode_of(ring_path) == 0o600


def test_retiring_a_key_removes_it_and_keeps_the_file_private(ring_path):
    ring = Keyring.load(ring_path)
    old = ring.current
    ring.add_kek()
    ring.remove_kek(old)
    assert old not in Keyring.load(ring_path).keks
    assert mode_of(ring_path) == 0o600
    with pytest.raises(KeyringError, match="current"):
        ring.remove_kek(ring.current)


def test_the_saved_file_is_json_naming_every_key_and_the_current_one(ring_path):
    ring = Keyring.load(ring_path)
    new_id = ring.add_kek()
    data = json.loads(ring_path.read_text())
    assert data["current"] == new_id
    assert {item["id"] for item in data["keks"]} == set(ring.keks)


def test_the_app_follows_a_key_ring_changed_by_another_process(app, ring_path):
    before = crypto.keyring().current
    new_id = Keyring.load(ring_path).add_kek()
    assert new_id != before
    assert crypto.keyring().current == new_id


def test_the_app_keeps_its_keys_when_the_file_turns_bad_while_running(app, ring_path):
    current = crypto.keyring().current
    ring_path.write_text("{broken")
    assert crypto.keyring().current == current
