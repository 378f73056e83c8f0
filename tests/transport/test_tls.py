"""TLS for both transports: certificates verified, against the URL's host, while the
socket goes to the address the guard checked.

A test CA and a certificate for ``hooks.example.test`` are made with the openssl
command line; the HTTPS server runs on 127.0.0.1, and the fake DNS answers
127.0.0.1 for that name. The clients trust the CA the way they trust any: through
the default trust store, which ``SSL_CERT_FILE`` points at here.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RecordingServer

HOST = "hooks.example.test"
ALLOW_LOOPBACK = ["127.0.0.0/8"]
TIMEOUT = (2.0, 3.0)


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Path:
    """ca.pem, and server.pem/server.key for HOST signed by it (valid for two days)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command line makes the test certificates")
    where = tmp_path_factory.mktemp("tls")
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=webhooks_app test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=where,
    )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", f"/CN={HOST}",
        cwd=where,
    )  # fmt: skip
    (where / "server.ext").write_text(
        f"subjectAltName=DNS:{HOST}\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "server.ext",
        cwd=where,
    )  # fmt: skip
    return where


class TLSServer(RecordingServer):
    """The recording server behind TLS; ``names`` holds the SNI of each handshake."""

    def __init__(self, certificates: Path) -> None:
        super().__init__()
        self.names: list[str | None] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificates / "server.pem", certificates / "server.key")
        context.sni_callback = lambda sock, name, ctx: self.names.append(name)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)


@pytest.fixture
def tls_server(certificates) -> Iterator[TLSServer]:
    server = TLSServer(certificates)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def trusted(certificates, monkeypatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "ca.pem"))


def test_https_is_verified_against_the_urls_host(tls_server, fake_dns, trusted, post):
    fake_dns.guard[HOST] = ["127.0.0.1"]  # and nothing for the socket layer: no re-resolving
    url = f"https://{HOST}:{tls_server.port}/tls"
    response = post(url, b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK)

    assert response.status_code == 200, response
    (request,) = tls_server.wait_for(1)
    assert request.path == "/tls"
    assert tls_server.names == [HOST]  # SNI: the URL's host, not the address


def test_a_certificate_for_another_name_is_refused(tls_server, trusted, post):
    url = f"https://127.0.0.1:{tls_server.port}/tls"  # the certificate names HOST only
    response = post(url, b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK)

    assert response.status_code is None and response.error_kind == "connection", response
    assert "certificate" in response.error.lower(), response
    time.sleep(0.2)
    assert tls_server.requests == []


def test_an_untrusted_certificate_is_refused(tls_server, fake_dns, post):
    fake_dns.guard[HOST] = ["127.0.0.1"]
    url = f"https://{HOST}:{tls_server.port}/tls"
    response = post(url, b"{}", {}, timeout=TIMEOUT, allowed_networks=ALLOW_LOOPBACK)

    assert response.status_code is None and response.error_kind == "connection", response
    assert "certificate" in response.error.lower(), response
    time.sleep(0.2)
    assert tls_server.requests == []
