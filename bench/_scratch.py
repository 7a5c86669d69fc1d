"""A scratch PostgreSQL database for one benchmark run, made before it and dropped after."""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


@contextmanager
def scratch_postgres(admin_url: str, prefix: str) -> Iterator[str | None]:
    """The URL of a new database on `admin_url`'s server, or None when none answers."""
    try:
        psycopg.connect(admin_url, connect_timeout=3).close()
    except psycopg.Error:
        yield None
        return
    name = f"{prefix}_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
