"""Throwaway PostgreSQL and MariaDB servers for tests.

Each server is initialised from scratch in a directory of its own, listens on a free port of
127.0.0.1 (and on a unix socket) and is stopped, with every process it started, by ``stop()``.

When the tests run as root the servers run as an unprivileged account (``nobody`` by default):
PostgreSQL refuses to run as root at all and MariaDB only with an explicit ``--user=root``, and a
database server has no business running as root anyway. That account must be able to reach its data
and socket directories, which pytest's own temporary directories (``/tmp/pytest-of-root``, mode 0700)
do not allow; in that case the data and socket live in a private directory under the system's
temporary directory that ``stop()`` deletes. Logs always stay in the directory the caller gave.

Durability is switched off (fsync, full-page writes, doublewrite): these databases live for one test
session, and start-up and schema migrations are markedly faster without it.
"""

from __future__ import annotations

import abc
import atexit
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import quote

# The account servers run as when the tests run as root.
DEFAULT_SERVICE_USER = "nobody"

# sun_path holds 108 bytes on Linux, NUL included; keep a margin for the server's lock file names.
_MAX_SOCKET_PATH = 100

# Names we create are interpolated into SQL as identifiers: allow only what needs no quoting rules.
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class DatabaseServerError(RuntimeError):
    """A throwaway database server could not be set up or started."""


class ServerBinariesMissing(DatabaseServerError):
    """The server's programs are not installed; the message names the packages that provide them."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (another process may still take it before we bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class ServiceAccount:
    """The operating-system account a server process runs as."""

    name: str
    uid: int
    gid: int

    @classmethod
    def named(cls, name: str) -> "ServiceAccount":
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise DatabaseServerError(f"there is no user {name!r} to run database servers as") from None
        return cls(name, entry.pw_uid, entry.pw_gid)

    @classmethod
    def current(cls) -> "ServiceAccount":
        uid = os.geteuid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:  # containers sometimes run with a uid that has no passwd entry
            name = str(uid)
        return cls(name, uid, os.getegid())

    def groups(self) -> set:
        try:
            return set(os.getgrouplist(self.name, self.gid))
        except (KeyError, OSError):
            return {self.gid}

    def can_traverse(self, path: Path) -> bool:
        """Whether this account can reach ``path`` through every directory above it."""
        if self.uid == 0:
            return True
        groups = self.groups()
        for directory in [path, *path.parents]:
            try:
                info = directory.stat()
            except FileNotFoundError:
                continue  # created later, by us, for this account
            if info.st_uid == self.uid:
                allowed = info.st_mode & stat.S_IXUSR
            elif info.st_gid in groups:
                allowed = info.st_mode & stat.S_IXGRP
            else:
                allowed = info.st_mode & stat.S_IXOTH
            if not allowed:
                return False
        return True


def service_account(run_as: Optional[str] = None) -> ServiceAccount:
    """The account to run a server as: ``run_as`` (default ``nobody``) when root, else ourselves."""
    current = ServiceAccount.current()
    if current.uid == 0:
        return ServiceAccount.named(run_as or DEFAULT_SERVICE_USER)
    if run_as and run_as != current.name:
        raise DatabaseServerError(f"only root can run a database server as {run_as!r}; we are {current.name!r}")
    return current


def process_uid(pid: int) -> int:
    """The real uid of a running process (from /proc), to check whom a server runs as."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise DatabaseServerError(f"no Uid line in /proc/{pid}/status")


def _find_program(names, directories=()) -> Optional[str]:
    for name in names:
        for directory in directories:
            candidate = Path(directory) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
        found = shutil.which(name)
        if found:
            return found
    return None


def kill_process_group(process: subprocess.Popen) -> None:
    """SIGKILL the process group a child leads (the child and everything it forked), then reap."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _tail(path: Path, characters: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return text[-characters:]


# Servers still running when the interpreter exits (a fixture's teardown never ran: an internal
# error, a forced exit): stop them so that no database process outlives the test run.
_running_servers: "weakref.WeakSet" = weakref.WeakSet()


@atexit.register
def _stop_leftover_servers() -> None:
    for server in list(_running_servers):
        server.stop()


@dataclass(frozen=True)
class Database:
    """A database on a throwaway server, with a user that owns it and no access to any other."""

    server: "DatabaseServer"
    name: str
    user: str
    password: str

    def url(self, driver: Optional[str] = None, unix_socket: bool = False) -> str:
        return self.server.url(self.name, self.user, self.password, driver=driver, unix_socket=unix_socket)

    def connect(self, unix_socket: bool = False):
        """A DB-API connection as this database's user."""
        return self.server.connect(self.name, self.user, self.password, unix_socket=unix_socket)


class DatabaseServer(abc.ABC):
    """What PostgreSQL and MariaDB servers have in common: directories, accounts, process control."""

    product = ""          # shown in messages
    graceful_signal = signal.SIGTERM
    # Lines in the server's log that mean another process took the port between free_port() and bind.
    port_taken_markers: tuple = ()
    superuser = ""
    default_database = ""
    default_driver = ""   # the DBAPI module named in url()s

    def __init__(self, directory: Path, *, host: str = "127.0.0.1", run_as: Optional[str] = None,
                 start_timeout: float = 60.0):
        self.directory = Path(directory)
        self.host = host
        self.run_as = run_as
        self.start_timeout = start_timeout
        self.port: Optional[int] = None
        # Alphanumeric: it goes unescaped into MariaDB's init file; awkward passwords are for the
        # users that tests create.
        self.superuser_password = secrets.token_hex(16)
        self.account: Optional[ServiceAccount] = None
        self.runtime_dir: Optional[Path] = None   # data + socket; deleted by stop()
        self.data_dir: Optional[Path] = None
        self.socket_dir: Optional[Path] = None
        self.log_path = self.directory / f"{type(self).__name__.lower()}.log"
        # Seconds spent in each start-up phase: "initialize" (initdb/install-db), "launch" (until
        # the server accepts connections), "total".
        self.timings: dict = {}
        self._process: Optional[subprocess.Popen] = None
        self._log_offset = 0  # where the current launch's lines start in the log
        self._lock = threading.Lock()

    # --- what each product defines -------------------------------------------------------------
    @abc.abstractmethod
    def _find_binaries(self) -> None:
        """Locate the server's programs or raise ServerBinariesMissing naming the packages."""

    @abc.abstractmethod
    def _initialize(self) -> None:
        """Create the data directory's contents and the superuser."""

    @abc.abstractmethod
    def _launch_command(self) -> list:
        """The server's command line for self.port and the runtime directories."""

    @abc.abstractmethod
    def _probe(self) -> None:
        """Raise unless the server accepts a superuser connection over TCP."""

    @abc.abstractmethod
    def url(self, database: str, user: str, password: str, driver: Optional[str] = None,
            unix_socket: bool = False) -> str:
        """A SQLAlchemy URL with percent-encoded credentials, over TCP or the unix socket.

        ``driver`` None means ``default_driver``; "" gives the bare scheme (SQLAlchemy then picks
        its default DBAPI, for postgresql:// in SQLAlchemy 2.1 psycopg 3, which may be missing).
        """

    def _scheme(self, dialect: str, driver: Optional[str]) -> str:
        driver = self.default_driver if driver is None else driver
        return f"{dialect}+{driver}" if driver else dialect

    @abc.abstractmethod
    def connect(self, database: Optional[str] = None, user: Optional[str] = None,
                password: Optional[str] = None, unix_socket: bool = False):
        """A DB-API connection, by default as the superuser to the default database."""

    @abc.abstractmethod
    def _create_database(self, name: str, user: str, password: str) -> None:
        """Create the user and the database (names already checked)."""

    @property
    @abc.abstractmethod
    def socket_file(self) -> Path:
        """The server's unix socket."""

    # --- life cycle ----------------------------------------------------------------------------
    @property
    def pid(self) -> Optional[int]:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> "DatabaseServer":
        if self._process is not None:
            raise DatabaseServerError(f"{self.product} server in {self.directory} is already started")
        began = time.monotonic()
        try:
            self._find_binaries()
            self.account = service_account(self.run_as)
            self._prepare_directories()
            phase = time.monotonic()
            self._initialize()
            self.timings["initialize"] = time.monotonic() - phase
            phase = time.monotonic()
            for attempt in range(3):
                self.port = free_port(self.host)
                if self._launch_and_wait():
                    break
                if attempt == 2 or not self._port_was_taken():
                    raise DatabaseServerError(
                        f"{self.product} exited with status {self._process.returncode} while starting; "
                        f"{self.log_path}:\n{_tail(self.log_path)}")
                self._reap()
            self.timings["launch"] = time.monotonic() - phase
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - began
        _running_servers.add(self)
        return self

    def stop(self) -> None:
        """Stop the server and every process it started, and delete its data (logs stay)."""
        with self._lock:
            self._reap()
            if self.runtime_dir is not None:
                shutil.rmtree(self.runtime_dir, ignore_errors=True)
        _running_servers.discard(self)

    def __enter__(self) -> "DatabaseServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def create_database(self, name: str, user: str, password: str) -> Database:
        """A new database owned by a new user that has a password and no access to other databases."""
        for identifier in (name, user):
            if not _IDENTIFIER.match(identifier):
                raise ValueError(f"{identifier!r}: use lower-case letters, digits and _ (at most 63)")
        if not self.running:
            raise DatabaseServerError(f"the {self.product} server is not running")
        self._create_database(name, user, password)
        return Database(self, name, user, password)

    # --- helpers -------------------------------------------------------------------------------
    def _prepare_directories(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        account = self.account
        in_place = self.directory / "runtime"
        longest_socket = in_place / "socket" / ".s.PGSQL.65535.lock"
        if account.can_traverse(self.directory) and len(str(longest_socket)) <= _MAX_SOCKET_PATH:
            if in_place.exists():
                raise DatabaseServerError(f"{in_place} exists: give each server a directory of its own")
            in_place.mkdir()
            self.runtime_dir = in_place
        else:
            self.runtime_dir = Path(tempfile.mkdtemp(prefix=f"mlops-{self.product.lower()}-",
                                                     dir=self._private_parent(account)))
            # Say where the data went, for whoever debugs a failure from the given directory.
            (self.directory / "runtime-location").write_text(f"{self.runtime_dir}\n")
        self.data_dir = self.runtime_dir / "data"
        self.socket_dir = self.runtime_dir / "socket"
        # The data directory must be private to the account (PostgreSQL insists on 0700); the socket
        # directory and the one above it stay traversable so that clients running as another user
        # (a later test's mlflow server) can reach the socket.
        os.chmod(self.runtime_dir, 0o711)
        for path, mode in ((self.data_dir, 0o700), (self.socket_dir, 0o755), (self.runtime_dir / "tmp", 0o700)):
            path.mkdir(mode=mode)
            os.chmod(path, mode)  # mkdir's mode is filtered by the umask
        for path in (self.runtime_dir, self.data_dir, self.socket_dir, self.runtime_dir / "tmp"):
            os.chown(path, account.uid, account.gid)

    @staticmethod
    def _private_parent(account: ServiceAccount) -> str:
        for candidate in (tempfile.gettempdir(), "/tmp"):
            if account.can_traverse(Path(candidate)) and len(candidate) < 40:
                return candidate
        raise DatabaseServerError(f"no temporary directory that {account.name!r} can reach")

    def _write_private_file(self, path: Path, text: str) -> None:
        """A file only the service account can read (a password, an init script)."""
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.chown(path, self.account.uid, self.account.gid)

    def _spawn(self, command: list) -> subprocess.Popen:
        """Start a program as the service account, in a process group of its own, logging to our log."""
        switch = {}
        if os.geteuid() != self.account.uid:
            switch = dict(user=self.account.uid, group=self.account.gid, extra_groups=[])
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                       "LC_ALL": "C.UTF-8", "HOME": str(self.runtime_dir), "TMPDIR": str(self.runtime_dir / "tmp")}
        with open(self.log_path, "ab") as log:
            return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=self.runtime_dir, env=environment, start_new_session=True, **switch)

    def _run(self, command: list, timeout: float = 120) -> None:
        """Run a set-up program to completion; on failure or timeout kill all it started and raise."""
        with open(self.log_path, "ab") as log:
            log.write(f"\n$ {' '.join(command)}\n".encode())
        process = self._spawn(command)
        try:
            status = process.wait(timeout=timeout)
        except BaseException:
            kill_process_group(process)
            raise
        kill_process_group(process)  # a daemon a script left behind would keep the group alive
        if status != 0:
            raise DatabaseServerError(f"{Path(command[0]).name} failed with status {status}; "
                                      f"{self.log_path}:\n{_tail(self.log_path)}")

    def _launch_and_wait(self) -> bool:
        """Launch the server; True once it accepts connections, False if it exited first."""
        with open(self.log_path, "ab") as log:
            log.write(f"\n$ {' '.join(self._launch_command())}\n".encode())
        self._log_offset = self.log_path.stat().st_size
        self._process = self._spawn(self._launch_command())
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._process.poll() is not None:
                return False
            try:
                self._probe()
                return True
            except Exception as error:  # the driver's "connection refused", "starting up", ...
                last_error = error
            if time.monotonic() > deadline:
                raise DatabaseServerError(
                    f"{self.product} did not accept connections within {self.start_timeout}s "
                    f"(last error: {last_error}); {self.log_path}:\n{_tail(self.log_path)}")
            time.sleep(0.05)

    def _port_was_taken(self) -> bool:
        with open(self.log_path, "rb") as log:
            log.seek(self._log_offset)
            text = log.read().decode(errors="replace")
        return any(marker in text for marker in self.port_taken_markers)

    def _reap(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                process.send_signal(self.graceful_signal)
                process.wait(timeout=15)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        # Also after a clean exit: anything left in the group (a backend that outlived the
        # postmaster) dies with it.
        kill_process_group(process)


class PostgresServer(DatabaseServer):
    """A PostgreSQL cluster made by initdb, with password (SCRAM) authentication everywhere."""

    product = "PostgreSQL"
    # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, close sessions, exit.
    graceful_signal = signal.SIGINT
    port_taken_markers = ("could not bind", "Address already in use")
    superuser = "postgres"
    default_database = "postgres"
    default_driver = "psycopg2"
    install_hint = ("PostgreSQL server programs (initdb, postgres) not found. On Debian/Ubuntu install "
                    "the server package of any version, e.g. `apt-get install postgresql-15` "
                    "(Debian 12), or point MLOPS_POSTGRES_BINDIR at the directory holding them.")

    def __init__(self, directory: Path, *, bindir: Optional[str] = None, **options):
        super().__init__(directory, **options)
        self.bindir = bindir or os.environ.get("MLOPS_POSTGRES_BINDIR")

    @staticmethod
    def _has_server(directory) -> bool:
        return all((Path(directory) / name).is_file() for name in ("initdb", "postgres"))

    def _find_binaries(self) -> None:
        if self.bindir:  # asked for explicitly: that one or none
            if not self._has_server(self.bindir):
                raise ServerBinariesMissing(f"{self.bindir} holds no initdb and postgres. {self.install_hint}")
            return
        candidates = []
        pg_config = shutil.which("pg_config")
        if pg_config:
            # The libpq-dev pg_config reports a bindir without server programs: check, don't trust.
            result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
            if result.returncode == 0:
                candidates.append(result.stdout.strip())

        def version(path):
            match = re.search(r"/(\d+)/bin$", path)
            return int(match.group(1)) if match else 0

        candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
        candidates += sorted(glob.glob("/usr/pgsql-*/bin"), reverse=True)  # Red Hat layout
        initdb = shutil.which("initdb")
        if initdb:
            candidates.append(str(Path(initdb).parent))
        for directory in candidates:
            if self._has_server(directory):
                self.bindir = directory
                return
        raise ServerBinariesMissing(self.install_hint)

    @property
    def socket_file(self) -> Path:
        """The socket clients open: libpq looks for ``<dir>/.s.PGSQL.<port>`` (5432 if no port is given)."""
        return self.socket_dir / f".s.PGSQL.{self.port}"

    def _initialize(self) -> None:
        password_file = self.runtime_dir / "superuser-password"
        self._write_private_file(password_file, self.superuser_password + "\n")
        try:
            self._run([f"{self.bindir}/initdb", "--pgdata", str(self.data_dir), "--username", self.superuser,
                       f"--pwfile={password_file}", "--auth=scram-sha-256", "--encoding=UTF8",
                       "--locale=C", "--no-sync"])
        finally:
            password_file.unlink(missing_ok=True)

    def _launch_command(self) -> list:
        settings = {
            "listen_addresses": self.host,
            "port": self.port,
            "unix_socket_directories": str(self.socket_dir),
            # Clients of other accounts (a test running as root, an mlflow server) use the socket.
            "unix_socket_permissions": "0777",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": 200,
            "log_min_messages": "warning",
        }
        command = [f"{self.bindir}/postgres", "-D", str(self.data_dir)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        return command

    def _probe(self) -> None:
        self.connect().close()

    def connect(self, database: Optional[str] = None, user: Optional[str] = None,
                password: Optional[str] = None, unix_socket: bool = False):
        import psycopg2  # only the tests that use a server need the driver

        return psycopg2.connect(host=str(self.socket_dir) if unix_socket else self.host, port=self.port,
                                dbname=database or self.default_database, user=user or self.superuser,
                                password=self.superuser_password if password is None else password,
                                connect_timeout=5)

    def _create_database(self, name: str, user: str, password: str) -> None:
        from psycopg2 import sql

        connection = self.connect()
        try:
            connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(password)))
                cursor.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(user)))
                # Every role may connect to a new database by default (PUBLIC has CONNECT): take that
                # away so that one test's user cannot reach another test's database.
                cursor.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
        finally:
            connection.close()

    def url(self, database: str, user: str, password: str, driver: Optional[str] = None,
            unix_socket: bool = False) -> str:
        scheme = self._scheme("postgresql", driver)
        credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
        if unix_socket:
            # libpq takes a directory as host; the port names the socket file in it.
            return (f"{scheme}://{credentials}@/{quote(database, safe='')}"
                    f"?host={quote(str(self.socket_dir), safe='/')}&port={self.port}")
        return f"{scheme}://{credentials}@{self.host}:{self.port}/{quote(database, safe='')}"


class MariaDBServer(DatabaseServer):
    """A MariaDB server made by mariadb-install-db; superuser ``root`` with a password."""

    product = "MariaDB"
    graceful_signal = signal.SIGTERM
    port_taken_markers = ("Can't start server: Bind on TCP/IP port", "Address already in use")
    superuser = "root"
    default_database = "mysql"
    default_driver = "pymysql"
    install_hint = ("MariaDB server programs (mariadbd or mysqld, mariadb-install-db or mysql_install_db) "
                    "not found. On Debian/Ubuntu: `apt-get install mariadb-server-core mariadb-client-core` "
                    "(or mariadb-server, which also starts a system service).")
    _server_directories = ("/usr/sbin", "/usr/libexec", "/usr/local/sbin", "/usr/local/bin")
    _script_directories = ("/usr/bin", "/usr/local/bin", "/usr/scripts")

    # InnoDB sizing for a test server; install-db and the server get the same values so that the
    # server does not resize the redo log on its first start.
    _innodb_options = ["--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M"]

    def _find_binaries(self) -> None:
        self.server_program = _find_program(("mariadbd", "mysqld"), self._server_directories)
        self.install_program = _find_program(("mariadb-install-db", "mysql_install_db"), self._script_directories)
        if not self.server_program or not self.install_program:
            raise ServerBinariesMissing(self.install_hint)
        version = subprocess.run([self.server_program, "--version"], capture_output=True, text=True,
                                 check=False).stdout
        if "mariadb" not in version.lower():
            # Oracle MySQL initialises with `mysqld --initialize`, not install-db: not supported here.
            raise ServerBinariesMissing(f"{self.server_program} is not MariaDB ({version.strip()}). "
                                        + self.install_hint)
        self.version = version.strip()

    @property
    def socket_file(self) -> Path:
        return self.socket_dir / "mariadbd.sock"

    def _initialize(self) -> None:
        self._run([self.install_program, "--no-defaults",  # ignore /etc/mysql: it names system paths
                   f"--datadir={self.data_dir}", "--auth-root-authentication-method=normal",
                   "--skip-test-db", "--skip-name-resolve", *self._innodb_options])
        # install-db leaves root without a password (on localhost, 127.0.0.1, ::1 and this host's
        # name). The init file runs before the server accepts its first connection, so there is no
        # moment when root has no password.
        statements = [f"ALTER USER IF EXISTS 'root'@'{host}' IDENTIFIED BY '{self.superuser_password}';"
                      for host in ("localhost", "127.0.0.1", "::1")]
        statements.append(f"DROP USER IF EXISTS 'root'@'{socket.gethostname().lower()}';")
        self._write_private_file(self.runtime_dir / "init.sql", "\n".join(statements) + "\n")

    def _launch_command(self) -> list:
        return [
            self.server_program, "--no-defaults",
            f"--datadir={self.data_dir}", f"--socket={self.socket_file}",
            f"--pid-file={self.runtime_dir / 'mariadbd.pid'}", f"--tmpdir={self.runtime_dir / 'tmp'}",
            f"--port={self.port}", f"--bind-address={self.host}",
            # Users are created for host '%'; without name resolution 127.0.0.1 is just an address.
            "--skip-name-resolve",
            f"--init-file={self.runtime_dir / 'init.sql'}",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
            *self._innodb_options,
            "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
            "--max-connections=200",
        ]

    def _probe(self) -> None:
        self.connect().close()

    def connect(self, database: Optional[str] = None, user: Optional[str] = None,
                password: Optional[str] = None, unix_socket: bool = False):
        import pymysql  # only the tests that use a server need the driver

        location = dict(unix_socket=str(self.socket_file)) if unix_socket else dict(host=self.host, port=self.port)
        return pymysql.connect(**location, database=database or self.default_database,
                               user=user or self.superuser,
                               password=self.superuser_password if password is None else password,
                               connect_timeout=5)

    def _create_database(self, name: str, user: str, password: str) -> None:
        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                # Identifiers were checked against _IDENTIFIER; the password goes through the driver's
                # escaping (PyMySQL quotes parameters client-side, so it works in DDL too).
                cursor.execute(f"CREATE DATABASE `{name}`")
                cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
                cursor.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@'%%'", (user,))
            connection.commit()
        finally:
            connection.close()

    def url(self, database: str, user: str, password: str, driver: Optional[str] = None,
            unix_socket: bool = False) -> str:
        scheme = self._scheme("mysql", driver)
        credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
        if unix_socket:
            return (f"{scheme}://{credentials}@localhost/{quote(database, safe='')}"
                    f"?unix_socket={quote(str(self.socket_file), safe='/')}")
        return f"{scheme}://{credentials}@{self.host}:{self.port}/{quote(database, safe='')}"
