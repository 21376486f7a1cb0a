"""Trust for TLS, as pip (since 24.2) builds it: the system's trust store
(the ``truststore`` package on macOS and Windows; on other systems
OpenSSL's default locations, which ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``
name, read once per context where truststore reads them for every
connection) and certifi's bundle, plus one more CA bundle: ``--cert``,
else ``PIP_CERT``, else ``REQUESTS_CA_BUNDLE``, else ``CURL_CA_BUNDLE``.
``--client-cert`` (else ``PIP_CLIENT_CERT``: a PEM file with the key and
the certificate) is presented to servers that ask for one.  A store can
start loading in a thread as the process starts (``preload_trust_store``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import ssl
import sys
import threading
from dataclasses import dataclass

__all__ = [
    "DEFAULT_TLS",
    "TlsOptions",
    "TransportError",
    "TrustStore",
    "load_trust_store",
    "preload_trust_store",
    "take_preloaded",
    "trust_store",
    "urllib3_settings",
]


class TransportError(Exception):
    """The environment asks for something that cannot be done (a trust
    store that is not there, a proxy this install cannot use)."""

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


# The variables that name a CA bundle trusted besides the system's and
# certifi's, the first one set winning: pip's own, then requests' two.
# (OpenSSL's SSL_CERT_FILE and SSL_CERT_DIR name the system store itself.)
_CA_BUNDLE_VARIABLES = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
# The system bundles truststore looks for when OpenSSL's default locations
# hold no certificate (truststore/_openssl.py, after certifi-system-store).
_SYSTEM_CA_FILES = (
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/cert.pem",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/ca-bundle.pem",
)
_HASHED_CERT_NAME = re.compile(r"[0-9a-fA-F]{8}\.[0-9]")


@dataclass(frozen=True)
class TlsOptions:
    """TLS settings given on the command line (pip's ``--cert`` and
    ``--client-cert``); None: not given."""

    cert: str | None = None
    client_cert: str | None = None


DEFAULT_TLS = TlsOptions()  # nothing given: the environment decides


@dataclass(frozen=True)
class TrustStore:
    """What one TLS context trusts and presents: the system's store (as the
    environment names it now), certifi's bundle, ``bundle`` (named by
    ``origin``: an option or a variable) and the client certificate."""

    bundle: str | None = None
    origin: str | None = None
    client_cert: str | None = None
    client_cert_origin: str | None = None
    # OpenSSL reads these when the system store is loaded: a context made
    # under other values is another context.
    system_file: str | None = None
    system_dir: str | None = None


def trust_store(options: TlsOptions = DEFAULT_TLS) -> TrustStore:
    """The trust store ``options`` and the environment name now."""
    bundle, origin = options.cert, "--cert"
    if not bundle:
        for name in _CA_BUNDLE_VARIABLES:
            bundle, origin = os.environ.get(name) or None, name
            if bundle:
                break
    client_cert, client_origin = options.client_cert, "--client-cert"
    if not client_cert:
        client_cert, client_origin = os.environ.get("PIP_CLIENT_CERT"), "PIP_CLIENT_CERT"
    return TrustStore(
        bundle=bundle or None,
        origin=origin if bundle else None,
        client_cert=client_cert or None,
        client_cert_origin=client_origin if client_cert else None,
        system_file=os.environ.get("SSL_CERT_FILE"),
        system_dir=os.environ.get("SSL_CERT_DIR"),
    )


def _system_context() -> ssl.SSLContext:
    """A bare client context that trusts the system's store, as pip's
    (``truststore.SSLContext``).  On macOS and Windows truststore asks the
    platform to check each certificate.  Elsewhere it loads OpenSSL's default
    locations into the context before every connection (a full bundle each
    time, under a lock that makes handshakes wait for one another): the same
    locations are loaded here once, as truststore chooses them."""
    if sys.platform in ("darwin", "win32"):
        try:
            import truststore
        except ImportError:  # as pip: without it, certifi's bundle alone
            pass
        else:
            return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    defaults = ssl.get_default_verify_paths()
    if defaults.cafile or (defaults.capath and _holds_certificates(defaults.capath)):
        context.set_default_verify_paths()
    else:
        for cafile in _SYSTEM_CA_FILES:
            if os.path.isfile(cafile):
                context.load_verify_locations(cafile=cafile)
                break
    return context


def _holds_certificates(capath: str) -> bool:
    """Whether a directory holds hashed certificates (``<hash>.0``)."""
    try:
        return any(_HASHED_CERT_NAME.fullmatch(name) for name in os.listdir(capath))
    except OSError:
        return False


def _load_bundle(context: ssl.SSLContext, bundle: str) -> None:
    """Add the certificates of ``bundle`` (a file, or a directory of hashed
    certificates) to ``context``."""
    if os.path.isdir(bundle):
        context.load_verify_locations(capath=bundle)
    else:
        context.load_verify_locations(cafile=bundle)


def certifi_bundle() -> str:
    """The path of certifi's CA bundle, as ``certifi.where()`` gives it.

    Found next to the package's ``__init__`` without importing it where it
    is an ordinary file: ``certifi.where()`` goes through
    ``importlib.resources``, whose import costs more than loading the
    bundle (about 15 ms at every start of a networked command)."""
    spec = importlib.util.find_spec("certifi")
    if spec is not None and spec.origin and spec.origin.endswith("__init__.py"):
        beside = os.path.join(os.path.dirname(spec.origin), "cacert.pem")
        if os.path.isfile(beside):
            return beside
    import certifi  # a zipped or unusual install: ask it

    return certifi.where()


def load_trust_store(store: TrustStore) -> ssl.SSLContext:
    """A bare context (no urllib3 settings yet) loaded with ``store``;
    raises ``TransportError`` naming a file that cannot be loaded."""
    problem = _store_problem(store)
    if problem is not None:
        path, origin, hint = problem
        raise TransportError(f"{origin} {path!r} does not exist", hint=hint)
    context = _system_context()
    cafile = certifi_bundle()
    try:
        context.load_verify_locations(cafile=cafile)
    except (ssl.SSLError, OSError) as err:
        raise TransportError(
            f"cannot load certifi's CA bundle {cafile!r}: {err}",
            hint="reinstall certifi (pip install --force-reinstall certifi)",
        ) from err
    if store.bundle:
        try:
            _load_bundle(context, store.bundle)
        except (ssl.SSLError, OSError) as err:
            raise TransportError(
                f"cannot load the CA bundle {store.bundle!r} from {store.origin}: {err}",
                hint=_bundle_hint(store),
            ) from err
    if store.client_cert:
        # pip's --client-cert: one PEM file holding the key and the certificate.
        try:
            context.load_cert_chain(store.client_cert)
        except (ssl.SSLError, OSError) as err:
            raise TransportError(
                f"cannot load the client certificate {store.client_cert!r}"
                f" from {store.client_cert_origin}: {err}",
                hint="pass a PEM file holding the private key and the certificate",
            ) from err
    return context


class _Preload:
    """A trust store loading in a thread of its own into a bare context
    (``ssl`` lets other threads run while OpenSSL parses it)."""

    def __init__(self, store: TrustStore) -> None:
        self.store = store
        self.context: ssl.SSLContext | None = None
        # Not a daemon: a process that ends while OpenSSL is still parsing
        # (a usage error found at once) must wait for it, since finalizing
        # the interpreter under a daemon thread in C code can crash it.
        self._thread = threading.Thread(target=self._load, name="bundler-tls", daemon=False)
        self._thread.start()

    def _load(self) -> None:
        try:
            context = load_trust_store(self.store)
        except (TransportError, ssl.SSLError, OSError, ValueError):
            return  # loaded again where it is used, which names the problem
        self.context = context

    def result(self) -> ssl.SSLContext | None:
        self._thread.join()
        return self.context


_preloads: dict[TrustStore, _Preload] = {}
_preloads_lock = threading.Lock()


def preload_trust_store(options: TlsOptions = DEFAULT_TLS) -> None:
    """Start loading the trust store ``options`` and the environment name
    now, for the first TLS connection of this process (of any
    ``Transport``) to use."""
    store = trust_store(options)
    with _preloads_lock:
        if store not in _preloads:
            _preloads[store] = _Preload(store)


def take_preloaded(store: TrustStore) -> ssl.SSLContext | None:
    """The context ``preload_trust_store`` loaded with ``store`` (once: a
    context is not shared between two transports), or None."""
    with _preloads_lock:
        preload = _preloads.pop(store, None)
    return preload.result() if preload is not None else None


def urllib3_settings(context: ssl.SSLContext) -> ssl.SSLContext:
    """``context`` set up as ``urllib3.util.ssl_.create_urllib3_context``
    sets up the contexts it makes (TLS 1.2 at least, no compression or
    session tickets, certificates and host names checked, SSLKEYLOGFILE):
    copied from one it makes, so that nothing of it is missed."""
    from urllib3.util.ssl_ import create_urllib3_context

    model = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    context.minimum_version = model.minimum_version
    context.maximum_version = model.maximum_version
    context.options = model.options
    context.verify_flags = model.verify_flags
    context.post_handshake_auth = model.post_handshake_auth
    context.verify_mode = model.verify_mode
    context.check_hostname = model.check_hostname
    context.hostname_checks_common_name = model.hostname_checks_common_name
    if model.keylog_filename:
        context.keylog_filename = model.keylog_filename
    return context


def _store_problem(store: TrustStore) -> tuple[str, str, str] | None:
    """(file, where it came from, what to change about it) for a file
    ``store`` names that does not exist, or None."""
    if store.client_cert and not os.path.isfile(store.client_cert):
        return (
            store.client_cert,
            f"the client certificate from {store.client_cert_origin}",
            "pass a PEM file holding the private key and the certificate",
        )
    if store.bundle and not os.path.exists(store.bundle):
        return (store.bundle, f"the CA bundle from {store.origin}", _bundle_hint(store))
    for name, value in (("SSL_CERT_FILE", store.system_file), ("SSL_CERT_DIR", store.system_dir)):
        if value and not os.path.exists(value):
            return (
                value,
                f"the system trust store from {name}",
                f"set {name} to an existing path, or unset it",
            )
    return None


def _bundle_hint(store: TrustStore) -> str:
    if store.origin == "--cert":
        return "pass --cert a PEM file of CA certificates"
    return f"set {store.origin} to a PEM file of CA certificates, or unset it"
