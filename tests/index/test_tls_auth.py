"""TLS trust and private-index credentials as pip has them, end to end:
the ``bundle`` command against HTTPS and password-protected indexes on
127.0.0.1."""

from __future__ import annotations

import json
import os
import ssl
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from bundler.cli.main import run
from bundler.index import transport, trust
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
    context = wire.context(trust.trust_store())
    monkeypatch.undo()
    assert type(context) is truststore.SSLContext
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert loaded == [certifi.where()]  # as pip makes it
    # truststore on this platform (OpenSSL) reads SSL_CERT_FILE: a real request.
    monkeypatch.setenv("SSL_CERT_FILE", str(index.ca_file))
    reply = wire._manager(None, trust.trust_store()).request("GET", index.url)
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


# --- keyring ------------------------------------------------------------------------

FAKE_KEYRING = """\
#!{python}
# A stand-in for the keyring command: credentials from a JSON file, every
# call logged; "old" behaves as keyring < 25.2.1, which has no --mode.
import json, os, sys

args = sys.argv[1:]
with open(os.environ["FAKE_KEYRING_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
with open(os.environ["FAKE_KEYRING_DB"]) as db:
    stored = json.load(db)
old = os.environ.get("FAKE_KEYRING_OLD") == "1"
if old and any(a.startswith("--mode") for a in args):
    sys.stderr.write("keyring: error: unrecognized arguments: --mode=creds --output=json\\n")
    sys.exit(2)
if not old and args[:3] == ["--mode=creds", "--output=json", "get"]:
    found = stored.get(args[3])
    if found is None or (len(args) > 4 and args[4] != found[0]):
        sys.exit(1)
    print(json.dumps({{"username": found[0], "password": found[1]}}))
elif old and args[0] == "get" and len(args) == 3:
    found = stored.get(args[1])
    if found is None or found[0] != args[2]:
        sys.exit(1)
    print(found[1])
else:
    sys.exit(1)
"""


@dataclass
class FakeKeyring:
    log: Path
    db: Path

    def store(self, service: str, user: str, password: str) -> None:
        stored = json.loads(self.db.read_text())
        stored[service] = [user, password]
        self.db.write_text(json.dumps(stored))

    @property
    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def fake_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKeyring:
    """A ``keyring`` command first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    command = bin_dir / "keyring"
    command.write_text(FAKE_KEYRING.format(python=sys.executable))
    command.chmod(0o755)
    keyring = FakeKeyring(tmp_path / "keyring.log", tmp_path / "keyring.json")
    keyring.db.write_text("{}")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_KEYRING_LOG", str(keyring.log))
    monkeypatch.setenv("FAKE_KEYRING_DB", str(keyring.db))
    return keyring


def assert_secret_nowhere(tmp_path: Path, output: str) -> None:
    assert SECRET not in output
    for path in [*tmp_path.rglob("*"), *Path(os.environ["BUNDLER_CACHE_DIR"]).rglob("*")]:
        if path.is_file() and path.name != "keyring.json":
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.fixture
def private_index(index_server: IndexServerFactory) -> IndexServer:
    """An index that answers 401 unless given alice's password."""
    return index_server(PROJECTS, auth=("alice", SECRET))


def test_keyring_subprocess_gives_the_index_its_password(
    private_index: IndexServer,
    fake_keyring: FakeKeyring,
    requirements: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    index = private_index.url  # http://127.0.0.1:PORT/simple/
    fake_keyring.store(index, "alice", SECRET)
    with_user = index.replace("http://", "http://alice@")
    code, text, report = lock(requirements, "-i", with_user, "--keyring-provider", "subprocess")
    assert code == 0, report
    assert "util==2.0" in text
    # pip's call, once for the run: the index URL, then the URL's user name.
    assert fake_keyring.calls == [["--mode=creds", "--output=json", "get", index, "alice"]]
    captured = capsys.readouterr()
    assert_secret_nowhere(tmp_path, captured.out + captured.err)


def test_keyring_is_asked_for_the_host_when_the_index_url_has_no_entry(
    private_index: IndexServer,
    fake_keyring: FakeKeyring,
    requirements: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    netloc = f"127.0.0.1:{private_index.port}"
    fake_keyring.store(netloc, "alice", SECRET)
    monkeypatch.setenv("PIP_KEYRING_PROVIDER", "subprocess")
    code, _, report = lock(requirements, "-i", private_index.url)
    assert code == 0, report
    assert fake_keyring.calls == [
        ["--mode=creds", "--output=json", "get", private_index.url],
        ["--mode=creds", "--output=json", "get", netloc],
    ]


def test_a_keyring_without_mode_creds_is_asked_for_the_password(
    private_index: IndexServer,
    fake_keyring: FakeKeyring,
    requirements: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_KEYRING_OLD", "1")
    index = private_index.url
    fake_keyring.store(index, "alice", SECRET)
    with_user = index.replace("http://", "http://alice@")
    code, _, report = lock(requirements, "-i", with_user, "--keyring-provider", "auto")
    assert code == 0, report
    assert fake_keyring.calls == [
        ["--mode=creds", "--output=json", "get", index, "alice"],
        ["get", index, "alice"],
    ]


def test_without_a_keyring_provider_the_401_says_what_to_do(
    private_index: IndexServer, fake_keyring: FakeKeyring, requirements: Path
) -> None:
    fake_keyring.store(private_index.url, "alice", SECRET)
    code, _, report = lock(requirements, "-i", private_index.url)
    assert code == 1
    assert "HTTP 401" in str(report["error"])
    assert "--keyring-provider subprocess" in str(report["error"])
    assert fake_keyring.calls == []  # disabled unless asked for, as pip under --no-input


def test_credentials_the_keyring_gives_that_the_index_refuses(
    private_index: IndexServer,
    fake_keyring: FakeKeyring,
    requirements: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_keyring.store(private_index.url, "alice", SECRET + "-old")
    code, _, report = lock(
        requirements, "-i", private_index.url, "--keyring-provider", "subprocess"
    )
    assert code == 1
    assert "refused the credentials the keyring command gave" in str(report["error"])
    assert len(fake_keyring.calls) == 1
    captured = capsys.readouterr()
    assert_secret_nowhere(tmp_path, captured.out + captured.err)


def test_keyring_subprocess_without_a_keyring_command_is_a_usage_error(
    requirements: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    code, _, report = lock(requirements, "--keyring-provider", "subprocess")
    assert code == 2
    assert "no 'keyring' command on PATH" in str(report["error"])
    monkeypatch.setenv("PIP_KEYRING_PROVIDER", "import")
    code, _, report = lock(requirements)
    assert code == 2
    assert "PIP_KEYRING_PROVIDER=import" in str(report["error"])


def test_a_keyring_answer_that_is_not_credentials_is_named_without_it(tmp_path: Path) -> None:
    from bundler.index.keyringcli import KeyringCommand, KeyringError

    command = tmp_path / "keyring"
    command.write_text(f"#!{sys.executable}\nprint('password: {SECRET}')\n")
    command.chmod(0o755)
    with pytest.raises(KeyringError) as caught:
        KeyringCommand(str(command)).credentials("https://idx.example/simple/", "alice")
    assert "is not the JSON object" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_user_name_alone_keeps_the_password_known_for_that_user() -> None:
    from bundler.index.client import HttpClient

    with HttpClient() as client:
        client.add_credentials(f"https://alice:{SECRET}@idx.example/simple/")
        client.add_credentials("https://alice@idx.example/simple/a/")
        assert client.credentials.auth_for("https://idx.example/simple/") == ("alice", SECRET)
        client.add_credentials("https://bob@idx.example/simple/")
        assert client.credentials.auth_for("https://idx.example/simple/") == ("bob", "")


def test_start_up_preloads_the_trust_store_the_command_line_names(tmp_path: Path) -> None:
    """``bundle lock --cert CA`` starts loading CA with the system's store
    and certifi's as the process starts, and the first connection uses it."""
    import subprocess

    from bundler.__main__ import option_value

    assert option_value(["lock", "--cert", "a.pem", "--cert=b.pem"], "--cert") == "b.pem"
    assert option_value(["lock", "--cert"], "--cert") is None
    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    probe = (
        "import sys, bundler.__main__ as entry, bundler.index.trust as trust\n"
        "import bundler.cli.main as cli\n"
        "cli.main = lambda: print(sorted(s.bundle for s in trust._preloads))\n"
        "sys.argv = ['bundle', 'lock', 'r.in', '--cert', sys.argv[1]]\n"
        "entry.main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(ca_file)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == repr([str(ca_file)])
    # In this process: the preloaded context is the one a transport takes.
    options = trust.TlsOptions(cert=str(ca_file))
    trust.preload_trust_store(options)
    wire = transport.Transport(
        pool_size=2, user_agent="t", connect_timeout=5, read_timeout=5, tls=options
    )
    store = trust.trust_store(options)
    preloaded = trust._preloads[store]
    assert wire.context(store) is preloaded.context
    assert store not in trust._preloads
