"""A TLS-terminating HTTPS proxy in front of the emulator.

Google's client libraries and the google.cloud modules call ``https://<api>.googleapis.com/...``
and nothing else; they honour ``HTTPS_PROXY`` and ``REQUESTS_CA_BUNDLE`` (requests). So clients
get ``HTTPS_PROXY=http://127.0.0.1:<port>``; for ``CONNECT host:443`` the proxy

- refuses (403) any host the emulator does not answer, so nothing leaks to the internet;
- answers ``200 Connection Established`` and does the TLS handshake itself, with a certificate for
  that host issued by the test CA (``trustme``; one per host, made on first use);
- reads HTTP/1.1 requests from the tunnel (keep-alive, ``Content-Length`` or chunked bodies) and
  hands each to ``Application.serve`` with the host the client meant.

Plain HTTP requests to the proxy port itself (origin form, ``GET /_gcp_emulator/health``) reach
the control API; absolute-form proxy requests (``GET http://...``) are refused.
"""

from __future__ import annotations

import itertools
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

MAX_BODY = 64 * 1024 * 1024
REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 412: "Precondition Failed",
           500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass
class HttpRequest:
    method: str
    path: str
    query: str
    host: str
    headers: dict  # lower-case names
    body: bytes
    tunnelled: bool  # came through a CONNECT tunnel (TLS)
    connection: int = 0  # which client connection (tunnel) it came on: keep-alive shows as one


class CertificateAuthority:
    """Server contexts per host, with certificates of the test CA kept in ``tls_dir``."""

    def __init__(self, tls_dir: Path):
        import trustme  # pylint: disable=import-outside-toplevel

        self.tls_dir = Path(tls_dir)
        self.ca = trustme.CA.from_pem((self.tls_dir / "ca.pem").read_bytes(),
                                      (self.tls_dir / "ca-key.pem").read_bytes())
        self._contexts: dict = {}
        self._lock = threading.Lock()

    def context(self, host: str) -> ssl.SSLContext:
        with self._lock:
            context = self._contexts.get(host)
            if context is None:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                self.ca.issue_cert(host).configure_cert(context)
                context.set_alpn_protocols(["http/1.1"])
                self._contexts[host] = context
            return context


class _Handler(socketserver.StreamRequestHandler):
    server: "ProxyServer"

    def handle(self) -> None:
        self.connection_id = next(self.server.connection_ids)
        self.connection.settimeout(300)  # an idle keep-alive connection does not hold a thread forever
        try:
            first = read_head(self.rfile)
            if first is None:
                return
            method, target, version, headers = first
            if method == "CONNECT":
                self._tunnel(target)
                return
            if not target.startswith("/"):
                self._reply(self.wfile, 403, b"The GCP emulator's proxy only tunnels (CONNECT) to emulated hosts.\n",
                            close=True)
                return
            self._serve_loop(self.rfile, self.wfile, f"127.0.0.1:{self.server.server_address[1]}", False,
                             (method, target, version, headers))
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            return

    def _tunnel(self, target: str) -> None:
        host, unused, port = target.rpartition(":")
        host = host.strip("[]").lower()
        if port != "443" or not self.server.allowed(host):
            self.server.refused.append(target)
            self._reply(self.wfile, 403, f"The GCP emulator does not serve {target}: refused.\n".encode(), close=True)
            return
        self.wfile.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        self.wfile.flush()
        tls = self.server.authority.context(host).wrap_socket(self.connection, server_side=True)
        tls.settimeout(120)
        reader = tls.makefile("rb")
        writer = tls.makefile("wb")
        try:
            self._serve_loop(reader, writer, host, True, None)
        finally:
            try:
                tls.unwrap()
            except (OSError, ValueError):
                pass

    def _serve_loop(self, reader, writer, default_host: str, tunnelled: bool, first) -> None:
        while True:
            head = first or read_head(reader)
            first = None
            if head is None:
                return
            method, target, version, headers = head
            body = read_body(reader, headers)
            path, unused, query = target.partition("?")
            host = default_host if tunnelled else headers.get("host", default_host)
            request = HttpRequest(method, path, query, host, headers, body, tunnelled, self.connection_id)
            try:
                status, response_headers, payload = self.server.app.serve(request)
            except Exception as error:  # pylint: disable=broad-except  # a bug must not kill the connection
                import traceback  # pylint: disable=import-outside-toplevel

                traceback.print_exc()
                status, response_headers, payload = 500, [("Content-Type", "text/plain")], str(error).encode()
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            self._reply(writer, status, payload, response_headers, close=close, head_only=method == "HEAD")
            if close:
                return

    @staticmethod
    def _reply(writer, status: int, payload: bytes, headers=(), close: bool = False, head_only: bool = False) -> None:
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
        names = set()
        for name, value in headers:
            lines.append(f"{name}: {value}")
            names.add(name.lower())
        if "content-type" not in names and payload:
            lines.append("Content-Type: text/plain")
        lines.append(f"Content-Length: {len(payload)}")
        lines.append("Connection: close" if close else "Connection: keep-alive")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else payload))
        writer.flush()


def read_head(reader):
    """(method, target, version, headers) of the next request, or None at the end of the stream."""
    line = reader.readline(65537)
    while line in (b"\r\n", b"\n"):
        line = reader.readline(65537)
    if not line:
        return None
    parts = line.decode("latin-1").strip().split()
    if len(parts) != 3:
        raise ConnectionError(f"malformed request line {line!r}")
    headers: dict = {}
    while True:
        header = reader.readline(65537)
        if header in (b"\r\n", b"\n", b""):
            break
        name, unused, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return parts[0].upper(), parts[1], parts[2], headers


def read_body(reader, headers: dict) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size = int(reader.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while reader.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(reader.read(size))
            reader.readline()
    length = int(headers.get("content-length") or 0)
    if length > MAX_BODY:
        raise ConnectionError("request body too large")
    return reader.read(length) if length else b""


class ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, app, authority: CertificateAuthority, allowed):
        self.app = app
        self.authority = authority
        self.allowed = allowed
        self.refused: list = []
        self.connection_ids = itertools.count(1)
        super().__init__(address, _Handler)


def start_proxy(host: str, port: int, app, tls_dir: Path, allowed) -> ProxyServer:
    server = ProxyServer((host, port), app, CertificateAuthority(tls_dir), allowed)
    threading.Thread(target=server.serve_forever, name="gcp-emulator-proxy", daemon=True).start()
    return server


__all__ = ["HttpRequest", "ProxyServer", "start_proxy", "CertificateAuthority", "Optional"]
