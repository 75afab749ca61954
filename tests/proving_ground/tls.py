"""The proving ground's TLS: a test certificate authority made with ``trustme`` and a server certificate.

AWS is reached over HTTPS, and some of what a role sets up depends on it (a bucket policy that denies
``aws:SecureTransport`` false). So the proving ground serves HTTPS as well as HTTP, with a certificate
issued by a CA of its own; clients trust that CA through ``AWS_CA_BUNDLE`` (botocore, the amazon.aws
and community.aws modules, MLflow's S3 client) and verify the certificate as they would AWS's.

The files live in one directory (``<state dir>/tls``) and are kept across restarts, so that what a
shell exported (``AWS_CA_BUNDLE``) stays valid; a server certificate that does not name the host it
is served on is issued again by the same CA.

- ``ca.pem``: the CA's certificate, what clients trust (``AWS_CA_BUNDLE``);
- ``server.pem`` / ``server-key.pem``: the server's certificate chain and private key;
- ``trust-bundle.pem``: the machine's usual trusted CAs plus the test CA, for clients configured by
  ``SSL_CERT_FILE`` (Python's ``ssl`` defaults, ``urllib``) that must still reach other hosts;
- ``identities.json``: the names the server certificate was issued for.
"""

from __future__ import annotations

import ipaddress
import json
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

# The names a loopback server answers to, whatever the host it was asked to bind.
LOOPBACK_IDENTITIES = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")


@dataclass(frozen=True)
class TlsFiles:
    directory: Path

    @property
    def ca_bundle(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def certificate_chain(self) -> Path:
        return self.directory / "server.pem"

    @property
    def private_key(self) -> Path:
        return self.directory / "server-key.pem"

    @property
    def trust_bundle(self) -> Path:
        return self.directory / "trust-bundle.pem"

    @property
    def identities_file(self) -> Path:
        return self.directory / "identities.json"

    def server_context(self) -> ssl.SSLContext:
        """An SSLContext for the HTTPS listener (TLS 1.2 or later, as AWS's endpoints)."""
        context = LazyHandshakeContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.certificate_chain), str(self.private_key))
        return context

    def client_context(self) -> ssl.SSLContext:
        """An SSLContext that trusts the test CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.ca_bundle))


class LazyHandshakeContext(ssl.SSLContext):
    """A server context whose sockets shake hands on their first read, in the request's own thread.

    Python's server sockets otherwise do the TLS handshake inside ``accept()``: in werkzeug's serving
    loop, so one client that connects and sends nothing would hold up every other client.
    """

    def wrap_socket(self, sock, server_side=False, do_handshake_on_connect=True, suppress_ragged_eofs=True,
                    server_hostname=None, session=None):
        return super().wrap_socket(sock, server_side=server_side, do_handshake_on_connect=False,
                                   suppress_ragged_eofs=suppress_ragged_eofs, server_hostname=server_hostname,
                                   session=session)


def identities_for(host: str, extra: Iterable[str] = ()) -> list:
    """The names the server certificate must carry to be valid for ``https://<host>:<port>``."""
    names = list(LOOPBACK_IDENTITIES)
    for name in [host.strip("[]"), *extra]:
        if name and name not in WILDCARD_HOSTS and name not in names:
            names.append(name)
    return names


def _system_trusted_cas() -> str:
    """The PEM text of the CAs this machine trusts by default (empty when none is found)."""
    candidates = [os.environ.get("SSL_CERT_FILE"), ssl.get_default_verify_paths().cafile,
                  ssl.get_default_verify_paths().openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"]
    try:
        import certifi  # pylint: disable=import-outside-toplevel

        candidates.append(certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with requests
        pass
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text(encoding="ascii", errors="ignore")
    return ""


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def ensure_tls_files(directory: Path, host: str = "127.0.0.1", extra_identities: Iterable[str] = ()) -> TlsFiles:
    """The test CA and a server certificate for ``host`` under ``directory``, made when missing."""
    import trustme  # pylint: disable=import-outside-toplevel

    files = TlsFiles(Path(directory))
    files.directory.mkdir(parents=True, exist_ok=True)
    wanted = identities_for(host, extra_identities)
    ca_key = files.directory / "ca-key.pem"
    if files.ca_bundle.is_file() and ca_key.is_file():
        ca = trustme.CA.from_pem(files.ca_bundle.read_bytes(), ca_key.read_bytes())
        current: Optional[list] = None
        if files.identities_file.is_file():
            current = json.loads(files.identities_file.read_text())
        if current == wanted and files.certificate_chain.is_file() and files.private_key.is_file():
            if not files.trust_bundle.is_file():
                _write_trust_bundle(files)
            return files
    else:
        ca = trustme.CA(organization_name="mlops.mlflow proving ground")
        _write_private(ca_key, ca.private_key_pem.bytes())
        ca.cert_pem.write_to_path(str(files.ca_bundle))
    # trustme puts IP addresses in iPAddress entries and names in dNSName entries, as clients expect.
    leaf = ca.issue_cert(*wanted, common_name=next((name for name in wanted if not _is_ip(name)), wanted[0]))
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    files.certificate_chain.write_bytes(chain)
    _write_private(files.private_key, leaf.private_key_pem.bytes())
    files.identities_file.write_text(json.dumps(wanted))
    _write_trust_bundle(files)
    return files


def _write_trust_bundle(files: TlsFiles) -> None:
    system = _system_trusted_cas()
    if system and not system.endswith("\n"):
        system += "\n"
    files.trust_bundle.write_text(system + files.ca_bundle.read_text(encoding="ascii"), encoding="ascii")


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
