"""The wire: HTTP/1.1 on urllib3's connection pools, set up from the
environment the way pip (through requests) sets itself up.

- Proxies: ``<scheme>_proxy`` and ``all_proxy`` (lowercase first), else
  the platform's settings (Windows' registry, macOS' system settings);
  skipped for hosts in ``no_proxy`` (a name and the names under it,
  ``host:port``, IPv4 addresses and networks, ``*``); credentials in a
  proxy URL become ``Proxy-Authorization``; ``socks*://`` proxies need
  PySocks.
- Credentials: a request without its own gets those ``$NETRC`` (else
  ``~/.netrc``, ``~/_netrc``) holds for the host, as Basic auth.
- Trust: the TLS context ``bundler.index.trust`` loads for the trust
  store the options and the environment name; each is loaded once, shared
  by every connection made with it.  Certificates and host names are
  always checked.

Nothing here retries, follows redirects or caches: ``HttpClient`` does.
Streamed bodies (files) are read as sent, never decoded.
Every answer of the environment is worked out once per process (per host,
for proxies and credentials): it does not change while bundler runs.  No
cookies are kept.  Name look-ups are the process's own unless its entry
point calls ``install_dns_cache``.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from bundler.index.trust import (
    DEFAULT_TLS,
    TlsOptions,
    TransportError,
    TrustStore,
    load_trust_store,
    take_preloaded,
    trust_store,
    urllib3_settings,
)
from bundler.redact import REDACTED, redact_url, split_auth

if TYPE_CHECKING:
    import urllib3
    from urllib3.poolmanager import PoolManager

__all__ = [
    "REDIRECT_STATUSES",
    "Reply",
    "Transport",
    "basic_auth",
    "install_dns_cache",
    "netrc_auth",
    "proxy_for",
]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

K = TypeVar("K")
V = TypeVar("V")


def basic_auth(user: str, password: str) -> str:
    """An ``Authorization: Basic`` value (RFC 7617; Latin-1 when the
    credentials fit, as requests sends them, else UTF-8)."""
    joined = f"{user}:{password}"
    try:
        raw = joined.encode("latin-1")
    except UnicodeEncodeError:
        raw = joined.encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


class Reply:
    """One response.  A streamed one is read with ``read``; ``close``
    returns its connection to the pool when the body was read to the end,
    and drops it otherwise."""

    __slots__ = ("_raw", "headers", "reason", "status", "url")

    def __init__(self, url: str, raw: urllib3.BaseHTTPResponse) -> None:
        self.url = url
        self._raw = raw
        self.status: int = raw.status
        self.reason: str = raw.reason or ""
        # Case-insensitive, as HTTP header names are.
        self.headers: Mapping[str, str] = raw.headers

    @property
    def is_redirect(self) -> bool:
        return self.status in REDIRECT_STATUSES and "Location" in self.headers

    def read(self, amount: int) -> bytes:
        """Up to ``amount`` bytes of a streamed body, as sent; ``b""`` at
        its end."""
        return self._raw.read(amount, decode_content=False)

    @property
    def content(self) -> bytes:
        """The whole body (decoded unless streamed)."""
        return self._raw.data

    def close(self) -> None:
        if not self._raw.closed:  # not read to the end: the connection is spent
            self._raw.close()
        self._raw.release_conn()


def _in_network(address: str, network: str) -> bool:
    """Whether an IPv4 ``address`` is in ``network`` (``a.b.c.d/bits``,
    bits 1 to 32; anything else is no network, as in requests)."""
    base, sep, bits = network.partition("/")
    if not sep or not bits.isdigit() or not 1 <= int(bits) <= 32:
        return False
    try:
        net = ipaddress.IPv4Network(f"{base}/{bits}", strict=False)
        return ipaddress.IPv4Address(address) in net
    except ValueError:
        return False


def _bypasses_proxy(host: str, port: int | None) -> bool:
    """requests' ``should_bypass_proxies``: ``no_proxy`` (else
    ``NO_PROXY``) lists IPv4 addresses and networks, and names that match
    the host (with or without its port) or a domain it is in; then the
    platform's own bypass list (the environment's ``*``; the registry on
    Windows, the system settings on macOS)."""
    import urllib.request

    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY")
    entries = [e for e in (no_proxy or "").replace(" ", "").split(",") if e]
    try:
        ipaddress.IPv4Address(host)
        is_address = True
    except ValueError:
        is_address = False
    if is_address:
        for entry in entries:
            if ("/" in entry and _in_network(host, entry)) or entry == host:
                return True
    else:
        with_port = f"{host}:{port}" if port else host
        for entry in entries:
            name = entry.lstrip(".")
            if name in (host, with_port) or (
                host.endswith(f".{name}") or with_port.endswith(f".{name}")
            ):
                return True
    try:
        return bool(urllib.request.proxy_bypass(host))
    except (TypeError, OSError):
        return False


def proxy_for(url: str) -> str | None:
    """The proxy for ``url``, or None: the environment's (``*_proxy``),
    else the platform's (the registry on Windows, the system settings on
    macOS), as requests' ``get_environ_proxies`` and ``select_proxy``."""
    import urllib.request

    parts = urlsplit(url)
    host = parts.hostname
    if host is None or _bypasses_proxy(host, parts.port):
        return None
    proxies = urllib.request.getproxies()
    for key in (f"{parts.scheme}://{host}", parts.scheme, f"all://{host}", "all"):
        if proxies.get(key):
            return proxies[key]
    return None


def netrc_auth(url: str) -> tuple[str, str] | None:
    """(login, password) for the URL's host from ``$NETRC`` (else
    ``~/.netrc`` or ``~/_netrc``); a file that cannot be read or parsed
    gives none, as in requests."""
    import netrc

    named = os.environ.get("NETRC")
    candidates = [named] if named is not None else ["~/.netrc", "~/_netrc"]
    for candidate in candidates:
        path = os.path.expanduser(candidate)
        if os.path.exists(path):
            break
    else:
        return None
    host = urlsplit(url).hostname
    if not host:
        return None
    try:
        found = netrc.netrc(path).authenticators(host)
    except (netrc.NetrcParseError, OSError):
        return None
    if not found or not any(found):  # a "machine" line with nothing after it
        return None
    login, account, password = found
    return (login or account or "", password or "")


# --- name resolution --------------------------------------------------------------


class _ResolverCache:
    """``socket.getaddrinfo`` answers kept for a while, and one look-up per
    name at a time: a pool opening sixteen connections to one index asks
    the resolver once, not sixteen times at once (some resolvers then stall
    for seconds).  Failures are not kept."""

    def __init__(self, lookup: Callable[..., Any], ttl: float = 300.0) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._lock = threading.Lock()
        self._names: dict[tuple[object, ...], threading.Lock] = {}
        self._answers: dict[tuple[object, ...], tuple[float, Any]] = {}

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        key = (host, port, *args, *sorted(kwargs.items()))
        with self._lock:
            name_lock = self._names.setdefault(key, threading.Lock())
        with name_lock:
            hit = self._answers.get(key)
            if hit is not None and time.monotonic() - hit[0] < self._ttl:
                return list(hit[1])
            answer = self._lookup(host, port, *args, **kwargs)
            self._answers[key] = (time.monotonic(), list(answer))
            return answer


_resolver_lock = threading.Lock()


def install_dns_cache() -> None:
    """Route this process's name look-ups through a ``_ResolverCache``
    (once).  It replaces ``socket.getaddrinfo`` for the whole process, so
    only a program's entry point may call it, never the library."""
    with _resolver_lock:
        if not isinstance(socket.getaddrinfo, _ResolverCache):
            socket.getaddrinfo = _ResolverCache(socket.getaddrinfo)


class Transport:
    """Pooled connections for every host, direct or through a proxy.

    Thread-safe: the pool managers are shared by every thread, and what is
    worked out from the environment is kept per host.
    """

    def __init__(
        self,
        *,
        pool_size: int,
        user_agent: str,
        connect_timeout: float,
        read_timeout: float,
        tls: TlsOptions = DEFAULT_TLS,
    ) -> None:
        self._pool_size = pool_size
        self._tls = tls
        self._user_agent = user_agent
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._lock = threading.Lock()
        self._managers: dict[tuple[str | None, TrustStore | None], PoolManager] = {}
        self._contexts: dict[TrustStore, ssl.SSLContext] = {}
        self._contexts_lock = threading.Lock()  # held while a store loads
        self._proxies: dict[tuple[str, str], str | None] = {}
        self._netrc: dict[str, tuple[str, str] | None] = {}
        self._base_headers: dict[str, str] | None = None

    def get(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        auth: tuple[str, str] | None,
        stream: bool,
        method: str = "GET",
        body: bytes | Iterable[bytes] | None = None,
    ) -> Reply:
        """One GET (or ``method`` with ``body``), no redirect followed and
        nothing retried.  Without ``stream`` the body is read, and decoded
        (gzip, deflate), before this returns.  A streamed body is a file's
        bytes and is never decoded, as in pip: a server that labels a
        ``.tar.gz`` ``Content-Encoding: gzip`` must not have it unpacked.
        Raises urllib3's errors as they are, and ``TransportError``."""
        import urllib3

        parts = urlsplit(url)
        proxy = self._per_host(
            self._proxies, (parts.scheme, parts.netloc.lower()), lambda: proxy_for(url)
        )
        sent = dict(self._headers())
        sent.update(headers)
        if auth is None:
            auth = self._per_host(self._netrc, parts.hostname or "", lambda: netrc_auth(url))
        if auth is not None:
            sent["Authorization"] = basic_auth(*auth)
        # A TLS connection (to the server, or to an https proxy) checks
        # certificates against the trust store the environment names now.
        tls = parts.scheme == "https" or (proxy or "").lower().startswith("https:")
        manager = self._manager(proxy, trust_store(self._tls) if tls else None)
        raw = manager.urlopen(
            method,
            url,
            body=body,
            headers=sent,
            redirect=False,
            retries=False,
            preload_content=not stream,
            decode_content=not stream,
            timeout=urllib3.Timeout(connect=self._connect_timeout, read=self._read_timeout),
        )
        return Reply(url, raw)

    def close(self) -> None:
        with self._lock:
            managers = list(self._managers.values())
            self._managers.clear()
        for manager in managers:
            manager.clear()

    def _headers(self) -> dict[str, str]:
        headers = self._base_headers
        if headers is None:
            from urllib3.util import make_headers

            # What requests sends by default; callers override.
            headers = {
                "User-Agent": self._user_agent,
                "Accept-Encoding": make_headers(accept_encoding=True)["accept-encoding"],
                "Accept": "*/*",
                "Connection": "keep-alive",
            }
            self._base_headers = headers
        return headers

    def _per_host(self, answers: dict[K, V], key: K, work: Callable[[], V]) -> V:
        """``work()``'s answer for ``key``, worked out once (the environment
        does not change while bundler runs)."""
        with self._lock:
            if key in answers:
                return answers[key]
        found = work()
        with self._lock:
            return answers.setdefault(key, found)

    def context(self, store: TrustStore) -> ssl.SSLContext:
        """The TLS context made with ``store`` (loaded once)."""
        with self._contexts_lock:
            context = self._contexts.get(store)
            if context is None:
                context = take_preloaded(store)
                if context is None:
                    context = load_trust_store(store)
                context = self._contexts[store] = urllib3_settings(context)
            return context

    def _manager(self, proxy: str | None, store: TrustStore | None) -> PoolManager:
        key = (proxy, store)
        with self._lock:
            manager = self._managers.get(key)
        if manager is not None:
            return manager
        context = self.context(store) if store is not None else None
        manager = self._make_manager(proxy, context)
        with self._lock:
            return self._managers.setdefault(key, manager)

    def _make_manager(self, proxy: str | None, context: ssl.SSLContext | None) -> PoolManager:
        import urllib3

        pool_kw: dict[str, Any] = {"maxsize": self._pool_size, "block": False}
        if context is not None:
            pool_kw["ssl_context"] = context
        if proxy is None:
            return urllib3.PoolManager(num_pools=self._pool_size, **pool_kw)
        if "://" not in proxy:
            proxy = f"http://{proxy}"  # as requests reads "host:port"
        try:
            return self._proxy_manager(proxy, context, pool_kw)
        except TransportError:
            raise
        except (urllib3.exceptions.HTTPError, ValueError) as err:
            reason = str(err)
            _, auth = split_auth(proxy)
            if auth is not None and auth[1]:
                reason = reason.replace(auth[1], REDACTED)
            raise TransportError(
                f"the proxy {redact_url(proxy)} cannot be used: {reason}",
                hint="check the *_proxy environment variables (http, https, socks5 proxies)",
            ) from err

    def _proxy_manager(
        self, proxy: str, context: ssl.SSLContext | None, pool_kw: dict[str, Any]
    ) -> PoolManager:
        import urllib3

        user, password = split_auth(proxy)[1] or ("", "")
        if proxy.lower().startswith("socks"):
            try:
                from urllib3.contrib.socks import SOCKSProxyManager
            except ImportError as err:
                raise TransportError(
                    f"the proxy {redact_url(proxy)} needs SOCKS support",
                    hint="pip install PySocks",
                ) from err
            return SOCKSProxyManager(
                proxy,
                username=user or None,
                password=password or None,
                num_pools=self._pool_size,
                **pool_kw,
            )
        proxy_headers = {"Proxy-Authorization": basic_auth(user, password)} if user else None
        return urllib3.ProxyManager(
            proxy,
            num_pools=self._pool_size,
            proxy_headers=proxy_headers,
            proxy_ssl_context=context,
            **pool_kw,
        )
