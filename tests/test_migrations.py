"""`db upgrade` on an empty database gives exactly the models: no autogenerate diff."""

import uuid

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from referral import create_app
from referral.extensions import db
from tests.conftest import test_config


def schema_differences(app):
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, db.metadata)


def test_upgrade_on_empty_sqlite_matches_the_models(tmp_path, keyring_path):
    app = create_app(test_config(f"sqlite:///{tmp_path}/m.sqlite3", keyring_path))
    assert schema_differences(app) == []
    with app.app_context():
        downgrade(revision="base")
        assert db.inspect(db.engine).get_table_names() == ["alembic_version"]


@pytest.mark.postgres
def test_upgrade_on_empty_postgresql_matches_the_models(pg_url, keyring_path):
    name = f"referral_mig_{uuid.uuid4().hex[:8]}"
    admin_url = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        app = create_app(test_config(admin_url.rsplit("/", 1)[0] + "/" + name, keyring_path))
        assert schema_differences(app) == []
        with app.app_context():
            db.engine.dispose()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
