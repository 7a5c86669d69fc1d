"""The service refuses to start without a usable key ring; `keys init` works before one."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from referral import ConfigError, create_app
from referral.services.crypto import Keyring

REPO = Path(__file__).resolve().parents[1]


def config(keyring) -> dict:
    return {"TESTING": True, "SECRET_KEY": "test-secret-key-not-for-production",
            "DATABASE_URL": "sqlite://", "KEYRING": str(keyring)}


def environment(tmp_path, keyring) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFERRAL_")}
    env.update(REFERRAL_SECRET_KEY="test-secret-key-not-for-production",
               REFERRAL_KEYRING=str(keyring), REFERRAL_INSTANCE_PATH=str(tmp_path),
               REFERRAL_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    return env


def run(args, tmp_path, keyring):
    return subprocess.run([sys.executable, *args], cwd=REPO, env=environment(tmp_path, keyring),
                          capture_output=True, text=True, timeout=60)


def test_the_app_refuses_to_start_without_a_key_ring(tmp_path):
    with pytest.raises(ConfigError) as caught:
        create_app(config(tmp_path / "missing.json"))
    message = str(caught.value)
    assert "key ring" in message and "keys init" in message


def test_the_app_refuses_a_key_ring_readable_by_others(tmp_path):
    path = tmp_path / "keyring.json"
    Keyring.create(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="key ring .* readable by others .*chmod 600"):
        create_app(config(path))


def test_the_app_refuses_a_malformed_key_ring(tmp_path):
    path = tmp_path / "keyring.json"
    path.write_text('{"current": "kek-1", "keks": [{"id": "kek-1", "key": "c2hvcnQ="}]}')
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="key ring .* malformed"):
        create_app(config(path))


def test_the_app_refuses_a_key_ring_path_it_cannot_read(tmp_path):
    path = tmp_path / "keyring.json"
    path.mkdir()  # as root, permission bits would not stop a read; a directory does
    with pytest.raises(ConfigError, match="key ring .* unreadable"):
        create_app(config(path))


def test_the_wsgi_entry_point_exits_with_the_key_ring_message(tmp_path):
    result = run(["-c", "import wsgi"], tmp_path, tmp_path / "nowhere" / "keyring.json")
    assert result.returncode != 0
    assert "refusing to start" in result.stderr and "keys init" in result.stderr


def test_keys_init_works_before_any_key_ring_exists_and_then_the_app_starts(tmp_path):
    path = tmp_path / "instance" / "keyring.json"
    result = run(["-m", "flask", "--app", "referral", "keys", "init"], tmp_path, path)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Keyring.load(path).current in result.stdout
    assert run(["-c", "import wsgi"], tmp_path, path).returncode == 0
