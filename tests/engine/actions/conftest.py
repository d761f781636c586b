"""Fixtures for the action tests: a real ActionContext and real servers to talk to.

- ``make_ctx(**overrides)``: an ActionContext with the real expression Sandbox, a tmp data
  dir, ``handler_response_timeout`` 5 s and a log callback collecting into ``log_lines``.
- ``http_server`` / ``https_server``: threaded HTTP/1.1 servers on 127.0.0.1 (random ports)
  recording what they receive; ``tls_files`` holds the CA and server certificates.
- ``smtp_server``: an aiosmtpd Controller on 127.0.0.1 collecting the messages it accepts.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from switchyard.engine.actions.base import ActionContext
from switchyard.engine.sandbox.expressions import Sandbox

SECRETS = {"API_TOKEN": "tok-5ecret-value", "SMTP_PASSWORD": "m4il-pa55word"}


# ------------------------------------------------------------------------ context
@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Same as the root fixture; repeated so these tests also run with --confcutdir here."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def log_lines() -> list[str]:
    return []


@pytest.fixture
def make_ctx(data_dir: Path, log_lines: list[str]) -> Callable[..., ActionContext]:
    async def log(lines: list[str]) -> None:
        log_lines.extend(lines)

    def factory(**overrides: Any) -> ActionContext:
        values: dict[str, Any] = {
            "instance_id": 7,
            "step_key": "states.start.actions[0]",
            "scope": {},
            "evaluator": Sandbox(),
            "secrets": SECRETS,
            "log": log,
            "data_dir": data_dir,
            "params": {"handler_response_timeout": 5},
            "connections": {},
            "config": {},
        }
        values.update(overrides)
        return ActionContext(**values)

    return factory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------- http
@dataclass
class HttpServer:
    base: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _reply(
        self, status: int, body: bytes, ctype: str = "application/json", **extra: str
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        parts = urlsplit(self.path)
        record = {
            "method": self.command,
            "path": parts.path,
            "query": parse_qs(parts.query),
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
        }
        self.server.record.requests.append(record)
        if parts.path == "/json":
            payload = {"id": 42, "items": [1, 2, 3], "name": "widget"}
            self._reply(200, json.dumps(payload).encode(), X_Request_Id="abc-123")
        elif parts.path == "/echo":
            self._reply(200, json.dumps(record).encode())
        elif parts.path.startswith("/status/"):
            status = int(parts.path.rsplit("/", 1)[1])
            self._reply(status, f"status {status}".encode(), "text/plain")
        elif parts.path == "/slow":
            self.server.record.release.wait(5)
            self._reply(200, b"{}")
        elif parts.path == "/redirect":
            self._reply(302, b"", "text/plain", Location="/json")
        else:
            self._reply(404, b"not found", "text/plain")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    record: HttpServer

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet
        pass


def _serve(tls: ssl.SSLContext | None) -> Iterator[HttpServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls else "http"
    server.record = HttpServer(f"{scheme}://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.record
    finally:
        server.record.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    yield from _serve(None)


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost signed by it."""
    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Switchyard test CA"))
        .issuer_name(_name("Switchyard test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@pytest.fixture
def https_server(tls_files: TlsFiles) -> Iterator[HttpServer]:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tls_files.cert, tls_files.key)
    yield from _serve(tls)


# ---------------------------------------------------------------------------- smtp
class _Collector:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"


SMTP_USER = ("mailer", "m4il-pa55word")


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        )
        == SMTP_USER
    )
    return AuthResult(success=ok, handled=False)  # handled=False: the server replies 535


@dataclass
class SmtpServer:
    port: int
    envelopes: list[Envelope]


def _smtp(**kwargs: Any) -> Iterator[SmtpServer]:
    collector = _Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield SmtpServer(controller.port, collector.envelopes)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    yield from _smtp()


@pytest.fixture
def smtp_auth_server() -> Iterator[SmtpServer]:
    """Requires AUTH (over plain TCP: this is a test server) as ``SMTP_USER``."""
    yield from _smtp(authenticator=_authenticate, auth_required=True, auth_require_tls=False)
