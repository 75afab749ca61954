"""pytest fixtures for throwaway database servers (loaded by tests/conftest.py as a plugin).

One PostgreSQL and one MariaDB server per test session, started the first time a test asks for
them; every test that wants a database gets a fresh one with a user of its own whose password
contains the characters that break an unencoded URI.
"""

from __future__ import annotations

import re
import secrets

import pytest

from .databases import Database, MariaDBServer, PostgresServer

# Characters that break a database URI unless percent-encoded (@ : / # ? % + space), "%41" that a
# second decoding would turn into "A", and the quotes and & = that break naive SQL or query strings.
URI_BREAKING_CHARACTERS = "@:/#?%41+ '&="


def awkward_password() -> str:
    """A random password made to break unencoded URIs, double decoding and naive SQL quoting."""
    return f"{secrets.token_hex(4)}{URI_BREAKING_CHARACTERS}{secrets.token_hex(4)}"


def fresh_names(test_name: str) -> tuple:
    """A database name and a user name, unique per call and recognisable in a server's log."""
    stem = re.sub(r"[^a-z0-9]+", "_", test_name.lower()).strip("_")[:20] or "test"
    suffix = secrets.token_hex(3)
    return f"db_{stem}_{suffix}", f"u_{stem}_{suffix}"


def _start(server_class, tmp_path_factory, name):
    server = server_class(tmp_path_factory.mktemp(name))
    server.start()
    return server


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A PostgreSQL server for the whole session (``.host``, ``.port``, ``.socket_dir``, ...)."""
    server = _start(PostgresServer, tmp_path_factory, "postgres")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory):
    """A MariaDB server for the whole session."""
    server = _start(MariaDBServer, tmp_path_factory, "mariadb")
    yield server
    server.stop()


@pytest.fixture
def postgres_database(postgres_server, request) -> Database:
    """A fresh PostgreSQL database and owner; ``.url()`` is a SQLAlchemy URL for it."""
    name, user = fresh_names(request.node.name)
    return postgres_server.create_database(name, user, awkward_password())


@pytest.fixture
def mariadb_database(mariadb_server, request) -> Database:
    """A fresh MariaDB database and a user with all privileges on it and nothing else."""
    name, user = fresh_names(request.node.name)
    return mariadb_server.create_database(name, user, awkward_password())
