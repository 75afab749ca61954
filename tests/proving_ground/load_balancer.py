"""A small local stand-in for an Application Load Balancer's listener: a reverse proxy on
127.0.0.1:<free port> in front of one target (a task run by the local ECS task runner).

The proving ground records load balancers but routes nothing. In AWS a client reaches MLflow at
``http://<load balancer DNS name>/``; the ALB forwards each request to a task with the client's Host
header unchanged (the DNS name, without a port on the listener's default port) and adds
``X-Forwarded-For``, ``X-Forwarded-Proto``, ``X-Forwarded-Port`` and ``X-Amzn-Trace-Id``. Locally
the client talks to ``http://127.0.0.1:<port>`` (its Host header then names that address) and this
proxy puts back what the client would have sent through the real load balancer:

- A Host header that names the proxy itself (``127.0.0.1:<port>``, ``localhost:<port>``) or is
  missing becomes ``public_host`` (the load balancer's DNS name): MLflow's host check sees what it
  sees in AWS.
- Any other Host header is forwarded unchanged, as the ALB forwards whatever Host a client sends:
  a test sends ``Host: evil.example.com`` to prove that a foreign host gets 403.

Bodies are streamed both ways in pieces (artifact uploads and downloads of any size): a request body
with ``Content-Length`` goes on with the same length, a chunked one goes on chunked; a response with
``Content-Length`` comes back with it, a chunked or close-delimited one comes back chunked (or
close-delimited to an HTTP/1.0 client). Status, reason and headers are forwarded, hop-by-hop headers
excepted. When the target refuses connections the client gets 503 (the ALB's answer when no target
is healthy), when it does not answer in time 504, when it breaks the exchange 502.

Plain HTTP only: a listener on HTTPS would terminate TLS at the load balancer, which changes nothing
the task sees but ``X-Forwarded-Proto``.
"""

from __future__ import annotations

import http.client
import http.server
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

LOOPBACK = "127.0.0.1"
PIECE = 64 * 1024
IN_FLIGHT_WAIT = 5.0  # seconds `requests` waits for requests answered but not yet recorded
# RFC 9110 section 7.6.1: headers meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
                        "trailer", "transfer-encoding", "upgrade"))
# Set by the proxy itself on the way to the target.
REPLACED_ON_REQUEST = frozenset(("host", "content-length", "expect", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-port",
                                 "x-amzn-trace-id"))


class BadRequestBody(ValueError):
    """The client's chunked body is malformed."""


@dataclass(frozen=True)
class ForwardedRequest:
    """One request the proxy forwarded (or failed to): what the target saw and what it answered."""

    method: str
    path: str
    host: str          # the Host header the target received
    status: int        # the status the client received
    request_bytes: int
    response_bytes: int
    seconds: float


def _hop_by_hop(headers) -> set:
    """The hop-by-hop header names, including those the Connection header lists."""
    names = set(HOP_BY_HOP)
    for value in headers.get_all("Connection") or []:
        names.update(token.strip().lower() for token in value.split(",") if token.strip())
    return names


def _read_chunked(stream) -> Iterator[bytes]:
    """The decoded pieces of a chunked body read from ``stream`` (trailers are read and dropped)."""
    while True:
        line = stream.readline(1024)
        if not line.endswith(b"\n"):
            raise BadRequestBody("truncated chunk size line")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadRequestBody(f"bad chunk size line {line[:40]!r}") from None
        if size == 0:
            while stream.readline(8192) not in (b"\r\n", b"\n", b""):
                pass
            return
        remaining = size
        while remaining:
            piece = stream.read(min(PIECE, remaining))
            if not piece:
                raise BadRequestBody("truncated chunk")
            remaining -= len(piece)
            yield piece
        if stream.readline(8) not in (b"\r\n", b"\n"):
            raise BadRequestBody("missing CRLF after a chunk")


def _read_length(stream, length: int) -> Iterator[bytes]:
    remaining = length
    while remaining:
        piece = stream.read(min(PIECE, remaining))
        if not piece:
            raise BadRequestBody(f"the body ended {remaining} bytes short of its Content-Length")
        remaining -= len(piece)
        yield piece


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_ProxyServer"

    # BaseHTTPRequestHandler dispatches on do_<METHOD>; every method is forwarded the same way.
    def __getattr__(self, name: str):
        if name.startswith("do_"):
            return self._forward
        raise AttributeError(name)

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format, *args) -> None:  # pylint: disable=redefined-builtin
        """Quiet: the proxy keeps its own record (``LocalLoadBalancer.requests``)."""

    def _forwarded_host(self) -> str:
        host = self.headers.get("Host")
        if not host or host.lower() in self.server.own_hosts:
            return self.server.balancer.public_host
        return host

    def _request_body(self) -> Tuple[Optional[str], Optional[Iterator[bytes]]]:
        """("chunked" | "<length>" | None, the body's pieces)."""
        encodings = [value.strip().lower() for value in ",".join(self.headers.get_all("Transfer-Encoding") or []).split(",") if value.strip()]
        if encodings:
            if encodings[-1] != "chunked":
                raise BadRequestBody(f"unsupported Transfer-Encoding {encodings}")
            return "chunked", _read_chunked(self.rfile)
        length = self.headers.get("Content-Length")
        if length is None:
            return None, None
        if not length.strip().isdigit():
            raise BadRequestBody(f"bad Content-Length {length!r}")
        return length.strip(), _read_length(self.rfile, int(length))

    def _send_error_page(self, status: int, reason: str) -> int:
        body = f"<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}</h1></center></body></html>\n"
        payload = body.encode()
        self.send_response_only(status, reason)
        self.send_header("Server", "awselb/2.0")
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.close_connection = True
        return len(payload)

    def _forward(self) -> None:
        began = time.monotonic()
        balancer = self.server.balancer
        host = self._forwarded_host()
        sent = received = 0
        status = 0
        upstream = http.client.HTTPConnection(*balancer.target(), timeout=balancer.timeout)
        balancer.begin()
        try:
            try:
                framing, body = self._request_body()
            except BadRequestBody:
                status = 400
                received = self._send_error_page(400, "Bad Request")
                return
            skip = _hop_by_hop(self.headers) | REPLACED_ON_REQUEST
            try:
                upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                upstream.putheader("Host", host)
                for name, value in self.headers.items():
                    if name.lower() not in skip:
                        upstream.putheader(name, value)
                client = self.client_address[0]
                earlier = self.headers.get("X-Forwarded-For")
                upstream.putheader("X-Forwarded-For", f"{earlier}, {client}" if earlier else client)
                upstream.putheader("X-Forwarded-Proto", balancer.scheme)
                upstream.putheader("X-Forwarded-Port", str(balancer.listener_port))
                upstream.putheader("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}")
                if framing == "chunked":
                    upstream.putheader("Transfer-Encoding", "chunked")
                elif framing is not None:
                    upstream.putheader("Content-Length", framing)
                upstream.endheaders()
            except ConnectionRefusedError:
                status = 503
                received = self._send_error_page(503, "Service Temporarily Unavailable")
                return
            except OSError:
                status = 502
                received = self._send_error_page(502, "Bad Gateway")
                return
            try:
                for piece in body or ():
                    sent += len(piece)
                    upstream.send(b"%x\r\n%s\r\n" % (len(piece), piece) if framing == "chunked" else piece)
                if framing == "chunked":
                    upstream.send(b"0\r\n\r\n")
            except BadRequestBody:
                status = 400
                received = self._send_error_page(400, "Bad Request")
                return
            except OSError:
                pass  # the target may answer (a 403, a 413) without reading the whole body
            try:
                response = upstream.getresponse()
            except socket.timeout:
                status = 504
                received = self._send_error_page(504, "Gateway Time-out")
                return
            except (OSError, http.client.HTTPException):
                status = 502
                received = self._send_error_page(502, "Bad Gateway")
                return
            if body is not None and framing != "chunked" and sent < int(framing):
                self.close_connection = True  # the rest of the client's body is still unread
            status = response.status
            received = self._relay(response)
        finally:
            upstream.close()
            balancer.record(ForwardedRequest(self.command, self.path, host, status, sent, received, time.monotonic() - began))

    def _relay(self, response: http.client.HTTPResponse) -> int:
        """Send the target's response to the client; returns the body's size."""
        skip = _hop_by_hop(response.headers)
        no_body = self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        length = response.getheader("Content-Length")
        chunked_to_client = not no_body and length is None and self.request_version == "HTTP/1.1"
        self.send_response_only(response.status, response.reason)
        for name, value in response.headers.items():
            if name.lower() not in skip:
                self.send_header(name, value)
        if chunked_to_client:
            self.send_header("Transfer-Encoding", "chunked")
        elif not no_body and length is None:
            self.close_connection = True  # an HTTP/1.0 client: the end of the body is the end of the connection
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        total = 0
        if no_body:
            self.wfile.flush()
            return 0
        try:
            while True:
                piece = response.read1(PIECE)
                if not piece:
                    break
                total += len(piece)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked_to_client else piece)
            if chunked_to_client:
                self.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException):
            self.close_connection = True  # the target broke off mid-body: so does the client's connection
        self.wfile.flush()
        return total


class _ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, balancer: "LocalLoadBalancer"):
        self.balancer = balancer
        self._connections: set = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _ProxyHandler)
        port = self.server_address[1]
        self.own_hosts = {f"{LOOPBACK}:{port}", f"localhost:{port}", f"[::1]:{port}"}

    def track(self, connection, opened: bool) -> None:
        with self._connections_lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class LocalLoadBalancer:
    """A listener of a load balancer, locally: ``url`` is what clients use instead of the DNS name.

    ``target``: (host, port) of the task, or a callable returning it (read at every request: a task
    restarted on another port stays reachable). ``public_host``: the Host header a client of the real
    load balancer sends (its DNS name, or a custom domain), given to requests that name the proxy.
    ``scheme`` and ``listener_port``: the real listener's, for the X-Forwarded-* headers. ``timeout``:
    the ALB's idle timeout (60 s by default in AWS). ``port``: the local port to listen on (0: a free
    one, chosen at ``start()``).
    """

    def __init__(self, target, public_host: str, *, scheme: str = "http", listener_port: int = 80, timeout: float = 60.0,
                 port: int = 0):
        self._target = target
        self.public_host = public_host
        self.scheme = scheme
        self.listener_port = listener_port
        self.timeout = timeout
        self.requested_port = port
        self.port: Optional[int] = None
        self._server: Optional[_ProxyServer] = None
        self._thread: Optional[threading.Thread] = None
        self._requests: List[ForwardedRequest] = []
        self._in_flight = 0
        self._lock = threading.Condition()

    def target(self) -> Tuple[str, int]:
        target = self._target() if callable(self._target) else self._target
        return str(target[0]), int(target[1])

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def requests(self) -> List[ForwardedRequest]:
        """Every request forwarded so far, oldest first.

        A request is recorded after its response has reached the client, so a client that has just
        read its answer could otherwise miss its own request here: wait (briefly) for those in flight.
        """
        with self._lock:
            self._lock.wait_for(lambda: self._in_flight == 0, timeout=IN_FLIGHT_WAIT)
            return list(self._requests)

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1

    def record(self, request: ForwardedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._in_flight -= 1
            self._lock.notify_all()

    def describe_requests(self, last: int = 20) -> str:
        """The latest requests, one a line, for failure messages."""
        lines = [f"{entry.method} {entry.path} Host={entry.host} -> {entry.status} ({entry.request_bytes} B in, "
                 f"{entry.response_bytes} B out, {entry.seconds:.2f}s)" for entry in self.requests[-last:]]
        return "\n".join(lines) or "(no requests)"

    def start(self) -> "LocalLoadBalancer":
        if self._server is not None:
            raise RuntimeError("this load balancer is already started")
        self._server = _ProxyServer((LOOPBACK, self.requested_port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"local-load-balancer-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> "LocalLoadBalancer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def request(self, method: str, path: str, *, host: Optional[str] = None, body=None, headers=None,
                timeout: float = 60.0) -> Tuple[int, dict, bytes]:
        """One request through the load balancer: (status, headers, body). ``host``: the Host header
        to send (default: the load balancer's name, as a client of the real one sends)."""
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=timeout)
        try:
            sent = dict(headers or {})
            sent["Host"] = host or self.public_host
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return response.status, dict(response.headers.items()), response.read()
        finally:
            connection.close()


__all__ = ["ForwardedRequest", "LocalLoadBalancer"]
