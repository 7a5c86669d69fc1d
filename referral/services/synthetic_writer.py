"""Writes synthetic rows in bulk: COPY on PostgreSQL, executemany on SQLite.

Rows come as the tuples of synthetic_rows, a batch of whole cases at a time, and go in
table by table in foreign-key order, inside the session's transaction (the caller
commits). Each value passes through the bind processor SQLAlchemy itself would apply to
its column (UUIDs, UTC timestamps, JSON), so the rows read back exactly like rows the ORM
wrote. Pseudonyms and slip codes are drawn here, at random like intake's and never from
the seed, each one checked unique against its batch and the database.
"""

import secrets
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral.errors import Invalid
from referral.services import pseudonyms
from referral.services.synthetic_rows import CASES, REFERRALS, SHAPES, SUBJECTS, TABLES, Rows

# The column of each table that holds a random code, and its payload length.
CODES = {SUBJECTS: ("pseudonym", pseudonyms.PAYLOAD_LENGTH),
         REFERRALS: ("code", pseudonyms.SLIP_PAYLOAD_LENGTH)}
SQLITE_CACHE_KIB = 256 * 1024  # a page cache big enough for the indexes being filled
SQLITE_CHUNK = 500  # codes looked up per query (SQLite's limit on parameters is 999 at worst)


# Types whose bind processors only check or wrap what every driver takes as it is: an
# enum's values are checked by its CHECK constraint, and bytes go in as bytes.
UNPROCESSED = (sa.Enum, sa.LargeBinary)


class Columns:
    """How one table's rows are sent: column names, and the bind processors SQLAlchemy
    applies to them on this dialect."""

    def __init__(self, table: sa.Table, dialect):
        self.table, self.names = table, SHAPES[table]._fields
        self.processors = []
        for index, name in enumerate(self.names):
            kind = table.c[name].type
            if isinstance(kind, UNPROCESSED):
                continue
            processor = kind.dialect_impl(dialect).bind_processor(dialect)
            if processor is None and dialect.name == "postgresql" and isinstance(kind, sa.Uuid):
                processor = _uuid_text
            if processor is not None:
                self.processors.append((index, processor))
        self.code_index = self.names.index(CODES[table][0]) if table in CODES else None

    def values(self, rows: list) -> list[list]:
        """The rows as the driver takes them (plain values, quick to pickle)."""
        prepared = []
        processors = self.processors
        for row in rows:
            values = list(row)
            for index, processor in processors:
                values[index] = processor(values[index])
            prepared.append(values)
        return prepared


def _uuid_text(value: uuid.UUID | None) -> str | None:
    """COPY's text format takes a UUID as its text (and a str pickles far faster)."""
    return None if value is None else str(value)


@dataclass
class Prepared:
    """A batch of rows as the driver takes them, in the order of TABLES."""

    values: list[list]
    cases: int
    first_case_id: uuid.UUID


class Writer:
    """Puts batches of rows into the session's database; `write` returns the cases added."""

    def __init__(self, session: Session):
        self.session = session
        self.dialect = session.get_bind().dialect
        if self.dialect.name not in ("postgresql", "sqlite"):
            raise Invalid(f"synthetic data goes into PostgreSQL or SQLite, not {self.dialect.name}")
        self.postgres = self.dialect.name == "postgresql"
        self.columns = {table: Columns(table, self.dialect) for table in TABLES}
        self.quote = self.dialect.identifier_preparer.quote

    def prepare(self, rows: Rows) -> Prepared:
        """The batch as the driver takes it; no database work, so a child process may do it."""
        return Prepared([self.columns[table].values(rows.of(table)) for table in TABLES],
                        rows.cases, rows.of(CASES)[0].id)

    def write(self, batch: Prepared) -> int:
        """Insert a prepared batch, giving its subjects and referrals their codes."""
        connection = self.session.connection().connection  # the driver's, in this transaction
        cursor = connection.cursor()
        try:
            for table, values in zip(TABLES, batch.values, strict=True):
                if not values:
                    continue
                columns = self.columns[table]
                if table in CODES:
                    codes = self._codes(cursor, table, len(values))
                    for row, code in zip(values, codes, strict=True):
                        row[columns.code_index] = code
                if self.postgres:
                    self._copy(cursor, columns, values)
                else:
                    cursor.executemany(self._insert(columns), values)
        finally:
            cursor.close()
        return batch.cases

    def _copy(self, cursor, columns: Columns, values: list) -> None:
        names = ", ".join(map(self.quote, columns.names))
        with cursor.copy(f"COPY {self.quote(columns.table.name)} ({names}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)

    def _insert(self, columns: Columns) -> str:
        names = ", ".join(map(self.quote, columns.names))
        marks = ", ".join("?" * len(columns.names))
        table = self.quote(columns.table.name)
        return f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 (model names)

    def _codes(self, cursor, table: sa.Table, count: int) -> list[str]:
        """`count` new random codes that no row here or in the database holds."""
        name, length = CODES[table]
        codes, seen = [], set()
        while len(codes) < count:
            fresh = list(dict.fromkeys(code for code in random_codes(count - len(codes), length)
                                       if code not in seen))
            seen.update(fresh)
            taken = self._taken(cursor, table, name, fresh)
            codes += [code for code in fresh if code not in taken]
        return codes

    def _taken(self, cursor, table: sa.Table, name: str, codes: list[str]) -> set[str]:
        column = self.quote(name)
        query = f"SELECT {column} FROM {self.quote(table.name)} WHERE {column}"  # noqa: S608
        if self.postgres:
            cursor.execute(query + " = ANY(%s)", (codes,))
            return {row[0] for row in cursor.fetchall()}
        taken = set()
        for start in range(0, len(codes), SQLITE_CHUNK):
            chunk = codes[start:start + SQLITE_CHUNK]
            cursor.execute(query + f" IN ({', '.join('?' * len(chunk))})", chunk)
            taken.update(row[0] for row in cursor.fetchall())
        return taken


def random_codes(count: int, length: int) -> list[str]:
    """`count` codes as pseudonyms.generate draws them (each character uniform over the
    32 symbols, from the operating system's CSPRNG), with their check character; the
    random bytes are read in one call rather than one per character."""
    alphabet, check = pseudonyms.ALPHABET, pseudonyms.check_character
    data = secrets.token_bytes(count * length)
    payloads = ("".join(alphabet[byte & 31] for byte in data[start:start + length])
                for start in range(0, len(data), length))
    return [payload + check(payload) for payload in payloads]


@contextmanager
def bulk_settings(session: Session):
    """SQLite: a page cache big enough for the indexes being filled, for this load only."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    before = session.execute(sa.text("PRAGMA cache_size")).scalar()
    session.execute(sa.text(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}"))
    try:
        yield
    finally:
        session.execute(sa.text(f"PRAGMA cache_size={int(before)}"))
