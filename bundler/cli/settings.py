"""What the parsed options mean to the library: targets, sources, client, lock options."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from datetime import date, datetime, time, timezone
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from bundler.cli.config import (
    pip_environment,
    under_pip_environment,
)
from bundler.cli.process import Process
from bundler.errors import UsageError, check_url
from bundler.index.keyringcli import DEFAULT_KEYRING_PROVIDER, KEYRING_PROVIDERS
from bundler.index.settings import ClientSettings, IndexOverrides
from bundler.index.settings import make_client as make_http_client
from bundler.index.trust import TlsOptions
from bundler.lock.inputs import LockOptions
from bundler.models import IndexSettings, IndexStrategy
from bundler.reporting import Reporter
from bundler.spec.target import Target, host_target, make_target, target_from_name

if TYPE_CHECKING:
    from packaging.requirements import Requirement


__all__ = [
    "index_overrides",
    "lock_options",
    "lock_sources",
    "make_client",
    "project_selection",
    "targets_of",
]


def project_selection(args: argparse.Namespace) -> Any:
    """``--extra``, ``--all-extras`` and ``--group``, names normalized."""
    from bundler.spec.projectinput import ProjectSelection

    extras = [e.strip() for value in args.extra for e in value.split(",") if e.strip()]
    if args.all_extras and extras:
        # pip-compile: "--extra has no effect when used with --all-extras".
        raise UsageError("--extra has no effect with --all-extras", hint="give one of them")
    return ProjectSelection(
        extras=tuple(dict.fromkeys(canonicalize_name(e) for e in extras)),
        all_extras=args.all_extras,
        groups=tuple(dict.fromkeys(canonicalize_name(g) for g in args.group)),
    )


def targets_of(args: argparse.Namespace, default: Sequence[str] = ()) -> list[Target]:
    versions: list[str] = list(dict.fromkeys(getattr(args, "python_version", []) or []))
    platforms: list[str] = list(dict.fromkeys(getattr(args, "platform", []) or []))
    if not versions and not platforms:
        if default:
            return [target_from_name(name) for name in default]
        return [host_target()]
    host = host_target()
    versions = versions or [host.python_full_version]
    platforms = platforms or list(host.platforms)
    targets: list[Target] = []
    for v in versions:
        for plat in platforms:
            t = make_target(v, plat)
            if t.name == host.name:
                t = host  # the same environment, known exactly
            if t.name not in {x.name for x in targets}:
                targets.append(t)
    return targets


def make_client(args: argparse.Namespace, reporter: Reporter) -> Any:
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.page_max_age is not None and not args.page_max_age >= 0:
        raise UsageError(f"--page-max-age {args.page_max_age}: must be 0 or more seconds")
    upgrading = getattr(args, "upgrade", False) or getattr(args, "upgrade_package", [])
    client = make_http_client(
        ClientSettings(
            cache_dir=args.cache_dir,
            offline=args.offline,
            workers=args.workers,
            page_max_age=0 if upgrading else args.page_max_age,
            tls=_tls_options(args),
            keyring_provider=_keyring_provider(args),
        ),
        reporter,
    )
    if Process.keep_alive is not None:  # the ``bundle`` command's own process
        Process.keep_alive.append(client)
        if not args.offline:
            from bundler.index.transport import install_dns_cache

            install_dns_cache()
    Process.clients.append(client)
    return client


def _tls_options(args: argparse.Namespace) -> TlsOptions:
    """``--cert`` and ``--client-cert``, each checked to be there."""
    cert: str | None = getattr(args, "cert", None)
    client_cert: str | None = getattr(args, "client_cert", None)
    if cert is not None and not os.path.exists(cert):
        raise UsageError(
            f"--cert {cert}: no such file or directory",
            hint="pass a PEM file of CA certificates (or a directory of hashed ones)",
        )
    if client_cert is not None and not os.path.isfile(client_cert):
        raise UsageError(
            f"--client-cert {client_cert}: no such file",
            hint="pass a PEM file holding the private key and the certificate",
        )
    return TlsOptions(cert=cert, client_cert=client_cert)


def _keyring_provider(args: argparse.Namespace) -> str:
    """``--keyring-provider``, else ``PIP_KEYRING_PROVIDER`` (as pip reads it)."""
    given: str | None = getattr(args, "keyring_provider", None)
    if given is not None:
        return given
    if not hasattr(args, "keyring_provider"):
        return DEFAULT_KEYRING_PROVIDER
    named = os.environ.get("PIP_KEYRING_PROVIDER") or DEFAULT_KEYRING_PROVIDER
    if named not in KEYRING_PROVIDERS:
        raise UsageError(
            f"PIP_KEYRING_PROVIDER={named}: bundler has {', '.join(KEYRING_PROVIDERS)}",
            hint="'import' needs keyring installed beside bundler: use 'subprocess'",
        )
    return named


def index_overrides(args: argparse.Namespace) -> IndexOverrides:
    for option, urls in (
        ("--index-url", [args.index_url] if args.index_url else []),
        ("--extra-index-url", args.extra_index_url),
        ("--find-links", args.find_links),
    ):
        for url in urls:
            check_url(url, option)
    return IndexOverrides(
        index_url=args.index_url,
        extra_index_urls=tuple(args.extra_index_url),
        find_links=tuple(args.find_links),
        no_index=args.no_index,
        named_indexes=tuple(getattr(args, "named_indexes", ())),
        index_strategy=IndexStrategy(args.index_strategy) if args.index_strategy else None,
    )


def _names(values: Sequence[str]) -> frozenset[str]:
    out: set[str] = set()
    for value in values:
        for raw in value.split(","):
            part = raw.strip()
            if part == ":none:":
                out.clear()
            elif part == ":all:":
                out.add(part)
            elif part:
                out.add(canonicalize_name(part))
    return frozenset(out)


def lock_options(args: argparse.Namespace, reqs: Any) -> LockOptions:
    only_binary = frozenset(reqs.only_binary) | _names(args.only_binary)
    if args.no_build:
        only_binary |= {":all:"}
    from bundler.spec.selection import BinaryPolicy

    policy = BinaryPolicy(
        only_binary=only_binary,
        no_binary=frozenset(reqs.no_binary) | _names(args.no_binary),
        prefer_binary=args.prefer_binary or reqs.prefer_binary,
    )
    upgrades = _upgrade_requirements(args.upgrade_package)
    return LockOptions(
        allow_prereleases=args.pre,
        upgrade=args.upgrade,
        upgrade_packages=frozenset(canonicalize_name(r.name) for r in upgrades),
        upgrade_constraints=tuple(r for r in upgrades if r.specifier or r.marker),
        policy=policy,
        exclude_newer=_exclude_newer(args.exclude_newer),
    )


def _exclude_newer(value: str | None) -> datetime | None:
    """``--exclude-newer``: an RFC 3339 timestamp with its offset, or a date
    (its first instant, UTC: the same cut-off on every machine)."""
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) == len("yyyy-mm-dd"):
            return datetime.combine(date.fromisoformat(text), time(), timezone.utc)
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise UsageError(
            f"--exclude-newer {value}: not an RFC 3339 timestamp (with its offset) nor a date",
            hint="--exclude-newer 2026-01-31 or --exclude-newer 2026-01-31T12:00:00Z",
        )
    return when


def _upgrade_requirements(values: Sequence[str]) -> list[Requirement]:
    """``-P`` values as requirements (``name``, ``name==1.2.3``, any
    specifier), extras dropped: pip-compile makes each a constraint, and a
    constraint has no extras."""
    from packaging.requirements import InvalidRequirement, Requirement

    out: list[Requirement] = []
    problems: list[str] = []
    for value in values:
        try:
            req = Requirement(value)
        except InvalidRequirement as err:
            problems.append(f"--upgrade-package {value!r}: {err}")
            continue
        if req.url:
            problems.append(f"--upgrade-package {value!r}: a URL cannot be upgraded")
            continue
        req.extras = set()
        out.append(req)
    if problems:
        raise UsageError(
            "\n".join(problems), hint="give a project name, or NAME==VERSION: -P requests==2.32.3"
        )
    return out


def lock_sources(args: argparse.Namespace, reqs: Any) -> tuple[IndexSettings, dict[str, str]]:
    """The sources to lock from: the command line's, over the requirements
    files', over pip's environment (``PIP_INDEX_URL``, ...) as pip-compile
    reads them; and each source only the environment named, with its
    variable."""
    files, origins = under_pip_environment(
        reqs.indexes, reqs.index_url_set, pip_environment(os.environ)
    )
    overrides = index_overrides(args)
    given = {overrides.index_url, *overrides.extra_index_urls, *overrides.find_links}
    return overrides.apply(files), {u: o for u, o in origins.items() if u not in given}
