"""Engine settings: SQLite durability and crypto-shredding pragmas, one writer at a time."""

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",  # an acknowledged intake survives a power cut
    "PRAGMA secure_delete=ON",  # erased bytes are overwritten, not left in free pages
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
)


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def render_item(type_, obj, autogen_context):
    """Autogenerate writes plain SQLAlchemy types, so migrations import no app code."""
    from referral.models.base import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def engine_options(url: str) -> dict:
    if url.startswith("postgresql"):
        return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 10}
    return {}


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, connection_record):
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # We issue BEGIN ourselves (below), so pysqlite must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


# An execution option of connections that only read, and may take long doing it (a
# statistics release's audit): on SQLite they begin a plain, deferred transaction, a
# snapshot of the write-ahead log that keeps no writer waiting.
READ_SNAPSHOT = "referral_read_snapshot"


@event.listens_for(Engine, "begin")
def _sqlite_begin_immediate(conn):
    # Take the write lock at the start: a read-then-write transaction (the audit chain,
    # idempotent intake) then never fails half-way with "database is locked".
    if conn.dialect.name == "sqlite":
        read_only = conn.get_execution_options().get(READ_SNAPSHOT, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def file_sqlite(engine) -> bool:
    """A SQLite database in a file, which other connections and processes share."""
    return engine.dialect.name == "sqlite" and engine.url.database not in (None, "",
                                                                           ":memory:")
