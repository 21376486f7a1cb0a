"""Which failures are worth another try, and what a retry line says.

A fetch spends a budget of attempts (``Attempts``); urllib3's errors are
sorted into those another try may fix (a dropped connection, a timeout, a
5xx) and those it would not (a bad URL, a certificate not trusted).
"""

from __future__ import annotations

import email.utils
import functools
import random
import ssl
from urllib.parse import urlsplit

__all__ = [
    "CANNOT_CONNECT",
    "CONNECT_PROBLEMS",
    "CONNECT_TIMED_OUT",
    "RETRY_STATUSES",
    "Attempts",
    "backoff_delay",
    "describe_problem",
    "final_errors",
    "host_of",
    "is_final_tls_failure",
    "retry_after_delay",
    "retryable_errors",
    "tls_hint",
]

# Statuses worth another try (RFC 9110 / RFC 6585 429).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504}) | frozenset(range(505, 600))


@functools.cache
def retryable_errors() -> tuple[type[Exception], ...]:
    """Failures worth another try: every urllib3 error (connection refused
    or dropped, a timeout, a body cut short or that would not decode) but
    those the client tells apart first (TLS, a malformed URL)."""
    import urllib3

    return (urllib3.exceptions.HTTPError,)


@functools.cache
def final_errors() -> tuple[type[Exception], ...]:
    """Failures another try would not fix: a URL that cannot be parsed
    (and TLS failures that ``is_final_tls_failure`` tells apart)."""
    import urllib3

    return (urllib3.exceptions.LocationValueError,)


# TLS failures that say the two ends cannot talk TLS to each other at all
# (an https URL on a plain-HTTP port or proxy, no protocol or cipher in
# common): another try would fail the same way.  OpenSSL's reason codes.
_FINAL_TLS_REASONS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "UNSUPPORTED_PROTOCOL",
        "UNKNOWN_PROTOCOL",
        "NO_PROTOCOLS_AVAILABLE",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "NO_SHARED_CIPHER",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "UNSAFE_LEGACY_RENEGOTIATION_DISABLED",
        # The server wants a client certificate, or refuses the one sent.
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
    }
)


# What to do about a certificate one end did not accept (OpenSSL's reasons).
_TLS_HINTS = {
    "CERTIFICATE_VERIFY_FAILED": "the server's certificate is not signed by a CA bundler"
    " trusts (the system's trust store and certifi's): pass --cert CA.pem (or set"
    " PIP_CERT) to trust its CA too, or add that CA to the system's trust store",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the index asks for a client certificate:"
    " pass --client-cert PEM (a file holding the private key and the certificate)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the index refused the client certificate"
    " (--client-cert, PIP_CLIENT_CERT)",
    "TLSV1_ALERT_UNKNOWN_CA": "the index does not trust the client certificate's CA"
    " (--client-cert, PIP_CLIENT_CERT)",
}


def is_final_tls_failure(err: BaseException) -> bool:
    """Whether a failure is one TLS will not get past by trying again: the
    server's certificate (untrusted, expired, another host's; never
    downgraded), or no TLS in common (``_FINAL_TLS_REASONS``).  Other TLS
    failures (an alert mid-connection, a record cut short) are the
    network's, and worth another try."""
    seen: set[int] = set()
    todo: list[BaseException] = [err]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError) or (
            type(current).__name__ == "CertificateError"
        ):
            return True
        if getattr(current, "reason", None) in _FINAL_TLS_REASONS:
            return True
        todo += [a for a in current.args if isinstance(a, BaseException)]
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
    return False


def tls_hint(reason: str) -> str | None:
    """What to do about the TLS failure ``reason`` tells of, if known."""
    return next((hint for key, hint in _TLS_HINTS.items() if key in reason), None)


class Attempts:
    """The requests one fetch may make: every one counts, whatever it met
    (an error status, a refused connection, a body cut short, a restart
    from zero), so "after 5 attempts" means 5 requests and a server that
    drops every response cannot keep a download going for ever."""

    __slots__ = ("limit", "made")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.made = 0

    @property
    def spent(self) -> bool:
        return self.made >= self.limit


def host_of(url: str) -> str:
    """The host (and port, when the URL names one) of ``url``: what a
    retry line shows, never credentials nor a path."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # RFC 3986: an IPv6 literal
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port is not None else host


# Secrets shorter than this are not replaced in free text (every "x" of a
# message would go); in URLs they are redacted whatever their length.
# The retry problems that mean the host was never reached ("... to HOST").
CANNOT_CONNECT = "cannot connect"
CONNECT_TIMED_OUT = "connection timed out"
CONNECT_PROBLEMS = (CANNOT_CONNECT, CONNECT_TIMED_OUT)


def describe_problem(err: BaseException) -> str:
    """A few words for a failure worth another try, for a retry line."""
    import urllib3.exceptions as e

    # The first match wins: a NewConnectionError is a ConnectTimeoutError
    # too, in urllib3, and every timeout is a TimeoutError.
    words: tuple[tuple[type[Exception], str], ...] = (
        (e.NewConnectionError, CANNOT_CONNECT),
        (e.ConnectTimeoutError, CONNECT_TIMED_OUT),
        (e.TimeoutError, "read timed out"),
        (e.SSLError, "TLS error"),
        (e.ProxyError, "proxy error"),
        (e.ProtocolError, "connection dropped"),
    )
    return next((said for kind, said in words if isinstance(err, kind)), type(err).__name__)


def backoff_delay(attempt: int, backoff: float, max_backoff: float) -> float:
    """The wait before the try after ``attempt``: exponential, capped, with
    jitter."""
    base: float = min(max_backoff, backoff * 2.0 ** (attempt - 1))
    jitter: float = random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not crypto
    return base * jitter


def retry_after_delay(value: str | None, now: float, cap: float) -> float | None:
    """The wait a ``Retry-After`` value asks for (RFC 9110: seconds or an
    HTTP date), at most ``cap``; None without a usable one."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        delay = when.timestamp() - now
    return max(0.0, min(delay, cap))
