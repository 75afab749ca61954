"""The throwaway database servers the end-to-end tests stand on: they start, enforce passwords,
isolate per-test databases, take percent-encoded URLs, offer unix sockets, run unprivileged when
the tests run as root, and leave no process behind."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

import pymysql
import psycopg2
import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from proving_ground.database_fixtures import URI_BREAKING_CHARACTERS, awkward_password, fresh_names
from proving_ground.databases import (
    DatabaseServerError,
    MariaDBServer,
    PostgresServer,
    ServerBinariesMissing,
    process_uid,
)

ENGINES = ["postgres", "mariadb"]
SERVER_CLASSES = {"postgres": PostgresServer, "mariadb": MariaDBServer}
# What each DB-API driver raises for a refused login or a refused database.
REFUSED = {"postgres": psycopg2.OperationalError, "mariadb": pymysql.err.OperationalError}
CURRENT_USER_SQL = {"postgres": "SELECT current_user", "mariadb": "SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1)"}


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


@pytest.fixture
def server(engine, request):
    return request.getfixturevalue(f"{engine}_server")


@pytest.fixture
def database(engine, request):
    return request.getfixturevalue(f"{engine}_database")


def scalar(url: str, statement: str):
    """One value from one statement, through SQLAlchemy and the URL exactly as given."""
    sql_engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with sql_engine.connect() as connection:
            return connection.execute(sqlalchemy.text(statement)).scalar()
    finally:
        sql_engine.dispose()


def group_members(group_id: int) -> list:
    """The live processes of a process group (a server and the children it forked)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        state, process_group = fields[0], int(fields[2])
        if process_group == group_id and state != "Z":
            members.append(int(entry.name))
    return members


@pytest.mark.slow
def test_server_accepts_its_superuser_and_refuses_a_wrong_password(server, engine):
    assert server.running
    assert server.host == "127.0.0.1"
    assert 1024 < server.port < 65536
    connection = server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            version = cursor.fetchone()[0]
    finally:
        connection.close()
    assert ("PostgreSQL" if engine == "postgres" else "MariaDB") in version
    with pytest.raises(REFUSED[engine]):
        server.connect(password=server.superuser_password + "x")


@pytest.mark.slow
def test_awkward_password_works_through_the_percent_encoded_url(database, engine):
    assert set(URI_BREAKING_CHARACTERS) <= set(database.password)
    url = database.url()
    assert url.startswith("postgresql+psycopg2://" if engine == "postgres" else "mysql+pymysql://")
    # Encoded: nothing of the password appears raw, and SQLAlchemy decodes it back exactly once.
    assert database.password not in url
    parsed = make_url(url)
    assert (parsed.username, parsed.password, parsed.database) == (database.user, database.password, database.name)
    assert scalar(url, CURRENT_USER_SQL[engine]) == database.user


@pytest.mark.slow
def test_unencoded_password_breaks_the_url(database, engine):
    """Why url() encodes: the same credentials pasted raw into a URL do not survive parsing."""
    raw = f"{make_url(database.url()).drivername}://{database.user}:{database.password}@127.0.0.1:1/{database.name}"
    try:
        parsed = make_url(raw)
    except (sqlalchemy.exc.ArgumentError, ValueError):  # "@" or ":" made a port of password text
        return
    assert (parsed.password, parsed.host) != (database.password, "127.0.0.1")


@pytest.mark.slow
def test_fresh_databases_are_isolated(server, database, engine, request):
    other = server.create_database(*fresh_names(request.node.name + "_other"), awkward_password())
    assert other.name != database.name and other.user != database.user

    sql_engine = sqlalchemy.create_engine(database.url(), poolclass=sqlalchemy.pool.NullPool)
    with sql_engine.begin() as connection:
        connection.execute(sqlalchemy.text("CREATE TABLE marker (id INTEGER)"))
        connection.execute(sqlalchemy.text("INSERT INTO marker VALUES (1)"))
    sql_engine.dispose()

    # The other database is empty: the table is not shared.
    count_tables = ("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                    if engine == "postgres" else
                    f"SELECT count(*) FROM information_schema.tables WHERE table_schema = '{other.name}'")
    assert scalar(other.url(), count_tables) == 0
    # Neither user can open the other's database.
    with pytest.raises(REFUSED[engine]):
        server.connect(other.name, database.user, database.password).close()
    with pytest.raises(REFUSED[engine]):
        server.connect(database.name, other.user, other.password).close()


@pytest.mark.slow
def test_postgres_unix_socket_url(postgres_server, postgres_database):
    socket_file = postgres_server.socket_file
    assert socket_file.parent == postgres_server.socket_dir
    assert stat.S_ISSOCK(socket_file.stat().st_mode)
    url = postgres_database.url(unix_socket=True)
    assert f"?host={postgres_server.socket_dir}&port={postgres_server.port}" in url
    assert make_url(url).query["host"] == str(postgres_server.socket_dir)
    # inet_server_addr() is NULL exactly when the session came over a unix socket.
    assert scalar(url, "SELECT inet_server_addr() IS NULL") is True
    assert scalar(postgres_database.url(), "SELECT host(inet_server_addr())") == "127.0.0.1"
    assert scalar(url, "SELECT current_user") == postgres_database.user


@pytest.mark.slow
def test_mariadb_unix_socket_url(mariadb_server, mariadb_database):
    assert stat.S_ISSOCK(mariadb_server.socket_file.stat().st_mode)
    url = mariadb_database.url(unix_socket=True)
    session_host = "SELECT host FROM information_schema.processlist WHERE id = CONNECTION_ID()"
    assert scalar(url, session_host) == "localhost"
    assert scalar(mariadb_database.url(), session_host).startswith("127.0.0.1:")


@pytest.mark.slow
def test_server_runs_as_an_unprivileged_user_when_root(server):
    expected = pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else os.geteuid()
    # Open a session so that PostgreSQL forks a backend: the children must not be root either.
    connection = server.connect()
    try:
        members = group_members(server.pid)
        assert server.pid in members
        assert {process_uid(pid) for pid in members} == {expected}
    finally:
        connection.close()
    assert server.data_dir.stat().st_uid == expected
    assert stat.S_IMODE(server.data_dir.stat().st_mode) == 0o700
    assert server.socket_file.stat().st_uid == expected


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ENGINES)
def test_stop_leaves_no_process_and_no_data(engine_name, tmp_path):
    server = SERVER_CLASSES[engine_name](tmp_path / engine_name)
    server.start()
    assert set(server.timings) == {"initialize", "launch", "total"}
    pid, port, runtime_dir = server.pid, server.port, server.runtime_dir
    connection = server.connect()  # an open session must not keep anything alive
    server.stop()
    assert group_members(pid) == []
    assert not server.running
    if os.geteuid() == 0:
        # pytest's temporary directories are closed to nobody: the data had to live elsewhere.
        assert not runtime_dir.is_relative_to(tmp_path)
    assert not runtime_dir.exists()  # the data goes with the server ...
    assert server.log_path.is_file() and server.log_path.is_relative_to(tmp_path)  # ... the log stays
    with pytest.raises(REFUSED[engine_name]):  # nothing listens on the port any more
        _connect_to(engine_name, port)
    connection.close()


def _connect_to(engine_name: str, port: int):
    if engine_name == "postgres":
        return psycopg2.connect(host="127.0.0.1", port=port, user="postgres", password="x", connect_timeout=2)
    return pymysql.connect(host="127.0.0.1", port=port, user="root", password="x", connect_timeout=2)


class NeverReady:
    """Mixed into a server class: the readiness probe never succeeds, as with a hung server."""

    def _probe(self):
        raise ConnectionRefusedError("this test's probe never succeeds")


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ENGINES)
def test_failed_start_leaves_no_process_behind(engine_name, tmp_path):
    hanging_class = type("Hanging" + SERVER_CLASSES[engine_name].__name__,
                         (NeverReady, SERVER_CLASSES[engine_name]), {})
    server = hanging_class(tmp_path / engine_name, start_timeout=1.0)
    started_processes = []
    original_spawn = server._spawn

    def recording_spawn(command):
        process = original_spawn(command)
        started_processes.append(process.pid)
        return process

    server._spawn = recording_spawn
    with pytest.raises(DatabaseServerError, match="did not accept connections within 1.0s"):
        server.start()
    assert started_processes, "the server was never launched"
    for pid in started_processes:
        assert group_members(pid) == []
    assert not server.running


def test_missing_postgres_programs_name_the_package(tmp_path):
    server = PostgresServer(tmp_path / "postgres", bindir=str(tmp_path))
    with pytest.raises(ServerBinariesMissing, match=r"apt-get install postgresql-15"):
        server.start()
    assert server.pid is None


def test_missing_mariadb_programs_name_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(MariaDBServer, "_server_directories", ())
    monkeypatch.setattr(MariaDBServer, "_script_directories", ())
    server = MariaDBServer(tmp_path / "mariadb")
    with pytest.raises(ServerBinariesMissing, match=r"mariadb-server-core mariadb-client-core"):
        server.start()
    assert server.pid is None
