"""TLS trust and private-index credentials as pip has them, end to end:
the ``bundle`` command against HTTPS and password-protected indexes on
127.0.0.1."""

from __future__ import annotations

import json
import ssl
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from bundler import transport
from bundler.cli import run
from tests.support import DistSpec, IndexServer, IndexServerFactory

SECRET = "kr-s3cr3t-Pa55"
PROJECTS = [DistSpec("webapp", "1.0", requires=("util",)), DistSpec("util", "2.0")]


@dataclass
class Https:
    """An HTTPS index whose certificate ``ca`` signed (its PEM in ``ca_file``)."""

    server: IndexServer
    ca: trustme.CA
    ca_file: Path

    @property
    def url(self) -> str:
        return self.server.url


def https_index(
    index_server: IndexServerFactory,
    tmp_path: Path,
    name: str,
    *,
    client_ca: trustme.CA | None = None,
    projects: list[DistSpec] = PROJECTS,
) -> Https:
    """An HTTPS index signed by a fresh CA; with ``client_ca``, it asks every
    client for a certificate that CA signed."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        client_ca.configure_trust(context)
    ca_file = tmp_path / f"{name}-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Https(index_server(projects, tls=context), ca, ca_file)


@pytest.fixture
def requirements(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.in"
    path.write_text("webapp\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_system_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The system's trust store is an empty one of the test's own, unless a
    test puts a CA in it (OpenSSL reads SSL_CERT_FILE and SSL_CERT_DIR)."""
    empty = tmp_path / "system-store"
    empty.mkdir()
    monkeypatch.setenv("SSL_CERT_FILE", str(empty / "none.pem"))
    (empty / "none.pem").write_text("")
    monkeypatch.setenv("SSL_CERT_DIR", str(empty))
    yield


def lock(requirements: Path, *args: str) -> tuple[int, str, dict[str, object]]:
    """``bundle lock`` in process: (exit code, lock text, --json report)."""
    out = requirements.with_name("requirements.txt")
    out.unlink(missing_ok=True)
    report = requirements.with_name("report.json")
    code = run(["lock", str(requirements), "-o", str(out), "--quiet", "--json", str(report), *args])
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    return code, text, json.loads(report.read_text(encoding="utf-8"))


# --- TLS ---------------------------------------------------------------------------


def test_cert_option_trusts_a_private_ca(
    index_server: IndexServerFactory, tmp_path: Path, requirements: Path
) -> None:
    index = https_index(index_server, tmp_path, "private")
    code, text, _ = lock(requirements, "-i", index.url, "--cert", str(index.ca_file))
    assert code == 0
    assert "webapp==1.0" in text and "util==2.0" in text


def test_pip_cert_trusts_a_private_ca(
    index_server: IndexServerFactory,
    tmp_path: Path,
    requirements: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = https_index(index_server, tmp_path, "private")
    monkeypatch.setenv("PIP_CERT", str(index.ca_file))
    code, text, _ = lock(requirements, "-i", index.url)
    assert code == 0
    assert "util==2.0" in text


def test_an_untrusted_certificate_fails_clearly_and_at_once(
    index_server: IndexServerFactory, tmp_path: Path, requirements: Path
) -> None:
    index = https_index(index_server, tmp_path, "private")
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    code, text, report = lock(requirements, "-i", index.url, "--cert", str(other))
    assert code == 1
    assert text == ""
    error = str(report["error"])
    assert "CERTIFICATE_VERIFY_FAILED" in error
    assert "hint: the server's certificate is not signed by a CA bundler trusts" in error
    # Refused at the handshake: no request reached the index, none was retried.
    assert index.server.log == []


def test_a_ca_in_the_system_store_is_trusted_with_the_cert_option(
    index_server: IndexServerFactory,
    tmp_path: Path,
    requirements: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A company CA installed in the system's store (OpenSSL's default
    locations on Linux) is trusted, and ``--cert`` adds to it, as in pip."""
    system = https_index(index_server, tmp_path, "system", projects=PROJECTS[:1])
    extra = https_index(index_server, tmp_path, "extra", projects=PROJECTS[1:])
    monkeypatch.setenv("SSL_CERT_FILE", str(system.ca_file))
    args = ["-i", system.url, "--extra-index-url", extra.url]
    code, text, _ = lock(requirements, *args, "--cert", str(extra.ca_file))
    assert code == 0
    assert "webapp==1.0" in text and "util==2.0" in text  # one from each index
    # Without --cert, the other CA is not trusted.
    code, _, report = lock(requirements, *args, "--page-max-age", "0")
    assert code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in str(report["error"])
    assert f"127.0.0.1:{extra.server.port}" in str(report["error"])


def test_the_system_store_on_macos_and_windows_is_truststore(
    index_server: IndexServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the platform checks certificates itself, the context is
    truststore's, given certifi's bundle and urllib3's settings."""
    import certifi
    import truststore

    index = https_index(index_server, tmp_path, "system")
    loaded: list[object] = []
    real = truststore.SSLContext.load_verify_locations

    def recording(self: truststore.SSLContext, cafile: object = None, **kw: Any) -> None:
        loaded.append(cafile)
        real(self, cafile, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(truststore.SSLContext, "load_verify_locations", recording)
    monkeypatch.setattr(sys, "platform", "darwin")
    wire = transport.Transport(pool_size=2, user_agent="t", connect_timeout=5, read_timeout=5)
    context = wire.context(transport.trust_store())
    monkeypatch.undo()
    assert type(context) is truststore.SSLContext
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert loaded == [certifi.where()]  # as pip makes it
    # truststore on this platform (OpenSSL) reads SSL_CERT_FILE: a real request.
    monkeypatch.setenv("SSL_CERT_FILE", str(index.ca_file))
    reply = wire._manager(None, transport.trust_store()).request("GET", index.url)
    assert reply.status == 200


def test_a_client_certificate_the_index_asks_for(
    index_server: IndexServerFactory, tmp_path: Path, requirements: Path
) -> None:
    client_ca = trustme.CA()
    index = https_index(index_server, tmp_path, "mtls", client_ca=client_ca)
    client_pem = tmp_path / "client.pem"
    client_ca.issue_cert("build-bot@example.com").private_key_and_cert_chain_pem.write_to_path(
        str(client_pem)
    )
    cert = ["-i", index.url, "--cert", str(index.ca_file)]
    code, text, _ = lock(requirements, *cert, "--client-cert", str(client_pem))
    assert code == 0
    assert "util==2.0" in text
    # Without it the server ends the handshake: a clear failure, not retried.
    asked = len(index.server.log)
    code, _, report = lock(requirements, *cert, "--page-max-age", "0")
    assert code == 1
    error = str(report["error"])
    assert f"127.0.0.1:{index.server.port}" in error and "CERTIFICATE_REQUIRED" in error
    assert "attempts" not in error
    assert "hint: the index asks for a client certificate: pass --client-cert" in error
    assert len(index.server.log) == asked


def test_tls_files_that_are_missing_or_unusable_are_named(
    tmp_path: Path, requirements: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, report = lock(requirements, "--cert", str(tmp_path / "nope.pem"))
    assert code == 2
    assert str(report["error"]).startswith(f"--cert {tmp_path / 'nope.pem'}: no such file")
    code, _, report = lock(requirements, "--client-cert", str(tmp_path / "me.pem"))
    assert code == 2
    assert "--client-cert" in str(report["error"])
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    monkeypatch.setenv("PIP_CLIENT_CERT", str(garbage))
    code, _, report = lock(requirements, "-i", "https://127.0.0.1:9/simple/")
    assert code == 1
    assert "cannot load the client certificate" in str(report["error"])
    assert "from PIP_CLIENT_CERT" in str(report["error"])


if sys.platform == "win32":  # pragma: no cover - the suite runs on Linux and macOS
    pytest.skip("the fake keyring command is a POSIX script", allow_module_level=True)
