"""Keeping credentials out of every file, message and log (one place)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "redact_text",
    "redact_url",
    "split_auth",
    "strip_credentials",
]

REDACTED = "***"

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s]*@")


def redact_url(url: str) -> str:
    """The URL with the password (or a bare token user) replaced by ``***``."""
    if "@" not in url:  # no userinfo: nothing to hide (the common case, cheaply)
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//[^/@]*@", f"//{REDACTED}@", url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, sep, _password = userinfo.partition(":")
    # A user without a password is usually a token (pip redacts it too).
    shown = f"{user}:{REDACTED}" if sep else REDACTED
    return urlunsplit(parts._replace(netloc=f"{shown}@{hostport}"))


def redact_text(text: str) -> str:
    """Replace every URL in ``text`` by its redacted form."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text)


def strip_credentials(text: str) -> str:
    """Remove ``user:secret@`` (or ``token@``) from every URL in ``text``:
    the form written into lock files."""
    return _USERINFO.sub(lambda m: m.group("scheme"), text)


def split_auth(url: str) -> tuple[str, tuple[str, str] | None]:
    """Split ``user:secret@`` off a URL: (URL without userinfo, (user, secret)).

    A redacted userinfo (``***``) counts as none, so redacted URLs from a
    lock still find the credentials registered for their host.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    clean = urlunsplit(parts._replace(netloc=hostport))
    user, sep, password = userinfo.partition(":")
    user, password = unquote(user), unquote(password)
    if REDACTED in (user, password) or not (user or password):
        return clean, None
    return clean, (user, password if sep else "")
