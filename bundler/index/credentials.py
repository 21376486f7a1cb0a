"""The credentials a client sends, per host, and the secrets it hides.

Credentials come from URLs (``user:secret@``), and after a 401 from the
keyring command, as pip asks it.  Every secret known is replaced by
``***`` in any text that ``scrub`` is given.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

from bundler.redact import REDACTED, split_auth

if TYPE_CHECKING:
    from bundler.index.keyringcli import KeyringCommand

__all__ = ["MIN_SCRUBBED", "Credentials", "host_key"]

# Secrets shorter than this are not replaced in free text (every "x" of a
# message would go); in URLs they are redacted whatever their length.
MIN_SCRUBBED = 4


def host_key(url: str) -> str:
    """``host:port`` of a URL (default port filled in), lowercased."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{(parts.hostname or '').lower()}:{port}"


class Credentials:
    """Credentials per ``host:port``, thread-safe; the keyring is asked at
    most once per host."""

    def __init__(self, keyring: KeyringCommand | None = None) -> None:
        self._lock = threading.Lock()
        self._auth: dict[str, tuple[str, str]] = {}
        self._secrets: set[str] = set()
        self._keyring = keyring
        self._keyring_lock = threading.Lock()  # one look-up at a time
        # host:port -> what the keyring gave for it (None: nothing).
        self._keyring_answers: dict[str, tuple[str, str] | None] = {}
        # Index URLs as given (userinfo kept), for the keyring's service names.
        self._index_urls: list[str] = []

    def add(self, url: str) -> str:
        """Remember the userinfo of ``url`` for its host; return the URL
        without it.  A user name alone does not replace the password known
        for that same user (pip keeps it too)."""
        clean, auth = split_auth(url)
        if auth is not None:
            self.remember(host_key(clean), auth)
        return clean

    def add_index(self, url: str) -> str:
        """``add`` for an index URL, which the keyring is then
        asked about (by its URL) when that index answers 401."""
        with self._lock:
            if url not in self._index_urls:
                self._index_urls.append(url)
        return self.add(url)

    def remember(self, host: str, auth: tuple[str, str], *, replace: bool = False) -> None:
        with self._lock:
            known = self._auth.get(host)
            if replace or known is None or auth[1] or known[0] != auth[0]:
                self._auth[host] = auth
            # The password, or a user name standing alone (a token); never a
            # user name beside a password: it is no secret (pip shows it).
            secret = auth[1] or auth[0]
            if len(secret) >= MIN_SCRUBBED:
                self._secrets.update({secret, quote(secret, safe="")})

    def from_keyring(self, url: str) -> bool:
        """After a 401 from ``url``'s host, pip's keyring look-up: the
        keyring's credentials for the index ``url`` is under, else for its
        ``host:port``, with the index URL's user name when it has one.  True
        when the keyring gave credentials (now the host's); never when the
        URL itself carries a password (pip does not ask then)."""
        if self._keyring is None:
            return False
        host = host_key(url)
        with self._keyring_lock:
            if host in self._keyring_answers:
                found = self._keyring_answers[host]
            else:
                known = self.auth_for(url)
                if known is not None and known[1]:
                    return False
                index_url = self._index_for(url)
                username = known[0] if known is not None and known[0] else None
                services = [split_auth(index_url)[0]] if index_url else []
                services.append(urlsplit(url).netloc)
                found = None
                for service in services:
                    found = self._keyring.credentials(service, username)
                    if found is not None:
                        break
                self._keyring_answers[host] = found
            if found is not None:
                self.remember(host, found, replace=True)
            return found is not None

    def _index_for(self, url: str) -> str | None:
        """pip's ``_get_index_url``: the index URL ``url`` is (or is under,
        the longest common path winning) on the same host, userinfo kept."""
        target = url.rstrip("/") + "/"
        parts = urlsplit(target)
        with self._lock:
            indexes = list(self._index_urls)
        candidates: list[tuple[int, str]] = []
        for given in indexes:
            index = given.rstrip("/") + "/"
            clean = urlsplit(split_auth(index)[0])
            if clean == parts:
                return index
            if clean.netloc == parts.netloc:
                common = os.path.commonpath([parts.path or "/", clean.path or "/"])
                candidates.append((len(common), index))
        if not candidates:
            return None
        return max(candidates, key=lambda c: c[0])[1]

    def with_credentials(self, url: str) -> str:
        """``url`` carrying the credentials this client knows for its host
        (given in a URL, or the keyring's after a 401), for a program that
        takes them only in the URL (pip); unchanged when none are known or
        ``url`` has its own.  Never print the result."""
        auth = self.auth_for(url)
        clean, own = split_auth(url)
        if auth is None or own is not None:
            return url
        parts = urlsplit(clean)
        user = quote(auth[0], safe="") + (f":{quote(auth[1], safe='')}" if auth[1] else "")
        return urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc}"))

    def auth_for(self, url: str) -> tuple[str, str] | None:
        with self._lock:
            return self._auth.get(host_key(url))

    def scrub(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***``."""
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return text
