"""Fixtures: an app on a fresh database per test, apps sharing one database, clients, tokens.

SQLite in memory by default; set REFERRAL_TEST_DATABASE_URL to run the same suite on
PostgreSQL (tables made once, emptied after each test).
"""

import os
import uuid
from contextlib import ExitStack, contextmanager

import psycopg
import pytest
from flask.ctx import _cv_app
from flask.testing import FlaskClient

from referral import create_app
from referral.extensions import db
from referral.models import ApiToken
from referral.models.base import utcnow
from referral.services import auth
from referral.services.crypto import Keyring

TEST_DATABASE_URL = os.environ.get("REFERRAL_TEST_DATABASE_URL", "")
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as psycopg itself takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def scratch_database(server_url: str, prefix: str):
    """A PostgreSQL database of its own on this server, for tests that start processes or
    threads on one database; dropped afterwards, even with connections still open."""
    admin = libpq_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def shared_pg_url(request):
    """The PostgreSQL server `shared_app` makes its database on; a module may override it."""
    return request.getfixturevalue("pg_url")


@pytest.fixture(params=["sqlite_file", "postgresql"])
def shared_app(request, tmp_path, keyring_path):
    """An app on a database every thread reaches through its own connection."""
    with ExitStack() as stack:
        if request.param == "sqlite_file":
            url = f"sqlite:///{tmp_path}/shared.sqlite3"
        else:
            url = stack.enter_context(scratch_database(
                request.getfixturevalue("shared_pg_url"), "referral_shared"))
        app = create_app(test_config(url, keyring_path))
        with app.app_context():
            db.create_all()
        yield app
        with app.app_context():
            db.engine.dispose()


def postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                             connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def keyring_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("keys") / "keyring.json"
    Keyring.create(path)
    return path


@pytest.fixture(scope="session")
def database_url():
    if TEST_DATABASE_URL.startswith("postgres"):
        if not postgres_answers(TEST_DATABASE_URL):
            pytest.skip(f"PostgreSQL at REFERRAL_TEST_DATABASE_URL does not answer "
                        f"({TEST_DATABASE_URL})")
        return TEST_DATABASE_URL
    return TEST_DATABASE_URL or "sqlite://"


@pytest.fixture(scope="session")
def pg_url():
    """A PostgreSQL server for tests that need one whatever the suite's database."""
    url = TEST_DATABASE_URL if TEST_DATABASE_URL.startswith("postgres") else DEFAULT_PG_URL
    if not postgres_answers(url):
        pytest.skip(f"no PostgreSQL server answers at {url}")
    return url


def test_config(database_url, keyring_path, **extra):
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "DATABASE_URL": database_url,
        "KEYRING": str(keyring_path),
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 8,
        "ARGON2_PARALLELISM": 1,
    }
    config.update(extra)
    return config


test_config.__test__ = False  # a helper, not a test


class Client(FlaskClient):
    """Each request runs in its own app context and session, as under a real server.

    Whatever the test flushed is committed first, so the request sees it."""

    def open(self, *args, **kwargs):
        outer = _cv_app.get(None)
        if outer is not None:
            db.session.commit()
            outer.pop()
        try:
            return super().open(*args, **kwargs)
        finally:
            if outer is not None:
                outer.push()


_pg_schema_ready = set()
_apps = {}


def _app_for(database_url, keyring_path):
    """One app per database for the whole run: building the OpenAPI document of every
    route makes create_app cost ~0.1 s, too much to pay for each of hundreds of tests.
    Each test still gets a fresh database and its own copy of the settings."""
    key = (database_url, str(keyring_path))
    if key not in _apps:
        _apps[key] = create_app(test_config(database_url, keyring_path))
        _apps[key].test_client_class = Client
    return _apps[key]


@pytest.fixture
def app(database_url, keyring_path):
    app = _app_for(database_url, keyring_path)
    settings = dict(app.config)
    with app.app_context():
        if database_url.startswith("postgres"):
            if database_url not in _pg_schema_ready:
                db.drop_all()
                db.create_all()
                _pg_schema_ready.add(database_url)
        else:
            db.create_all()
        yield app
        db.session.rollback()
        if database_url.startswith("postgres"):
            # DELETE, children first: on tables this small it is several times faster
            # than TRUNCATE, which takes exclusive locks and new files for every table.
            for table in reversed(db.metadata.sorted_tables):
                db.session.execute(table.delete())
            db.session.commit()
        db.session.remove()
        db.engine.dispose()  # in memory, the database goes with its connection
    app.config.clear()
    app.config.update(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def session(app):
    return db.session


def token_for(user) -> str:
    """A bearer token for a user, issued directly (no password round trip)."""
    import secrets
    from datetime import timedelta

    raw = secrets.token_urlsafe(32)
    db.session.add(ApiToken(id=uuid.uuid4(), user_id=user.id, digest=auth.token_digest(raw),
                            expires_at=utcnow() + timedelta(hours=1)))
    db.session.flush()
    return raw


@pytest.fixture
def headers_for(app):
    def make(user):
        return {"Authorization": f"Bearer {token_for(user)}"}

    return make
