"""Index credentials from the ``keyring`` command, as pip's
``--keyring-provider subprocess`` gets them (pip's ``network/auth.py``,
``KeyRingCliProvider``).

pip asks the keyring only after an index answers 401, for the index URL
first and then for its ``host:port``, with the user name the index URL
carries (``https://user@host/simple/``) when it has one.  The command is
``keyring --mode=creds --output=json get SERVICE [USER]`` (keyring 25.2.1
and later), which prints ``{"username": ..., "password": ...}``; an older
keyring refuses ``--mode``, and is then asked ``keyring get SERVICE USER``
for the password alone, as pips before 25.2 asked it.

Nothing the command prints is ever repeated in a message.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass

from bundler.errors import UsageError

__all__ = [
    "DEFAULT_KEYRING_PROVIDER",
    "KEYRING_COMMAND",
    "KEYRING_PROVIDERS",
    "KeyringCommand",
    "KeyringError",
    "find_keyring",
]

# pip's --keyring-provider values bundler has: "import" would need keyring
# inside bundler's own environment, and "auto" never prompts here.
KEYRING_PROVIDERS = ("disabled", "subprocess", "auto")
DEFAULT_KEYRING_PROVIDER = "disabled"
KEYRING_COMMAND = "keyring"


class KeyringError(UsageError):
    """The keyring command could not be run, or answered something that is
    not credentials (exit 2: the machine's set-up, not the input)."""


@dataclass(frozen=True)
class KeyringCommand:
    """The ``keyring`` executable to ask."""

    path: str

    def credentials(self, service: str, username: str | None) -> tuple[str, str] | None:
        """(user, password) the keyring holds for ``service`` (and
        ``username``, when known), or None when it holds none."""
        argv = [self.path, "--mode=creds", "--output=json", "get", service]
        if username:
            argv.append(username)
        done = self._run(argv)
        stderr = done.stderr.decode("utf-8", "replace")
        if done.returncode == 2 and "unrecognized arguments" in stderr and "--mode" in stderr:
            return self._password(service, username)  # keyring < 25.2.1
        if done.returncode:
            return None
        try:
            data = json.loads(done.stdout.decode("utf-8"))
            user, password = data["username"], data["password"]
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
            raise KeyringError(
                f"{self.path} --mode=creds --output=json get {service}: the answer is not"
                ' the JSON object {"username": ..., "password": ...} keyring prints',
                hint="upgrade keyring (25.2.1 or later), or pass --keyring-provider disabled",
            ) from err
        if not isinstance(user, str) or not isinstance(password, str):
            raise KeyringError(
                f"{self.path} get {service}: the username and password are not strings"
            )
        return user, password

    def _password(self, service: str, username: str | None) -> tuple[str, str] | None:
        """pip's older form: ``keyring get SERVICE USER`` prints the password."""
        if not username:
            return None  # that form needs the user name
        done = self._run([self.path, "get", service, username])
        if done.returncode:
            return None
        try:
            password = done.stdout.decode("utf-8").strip(os.linesep)
        except UnicodeDecodeError as err:
            raise KeyringError(f"{self.path} get {service}: the answer is not UTF-8") from err
        return (username, password) if password else None

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[bytes]:
        env = dict(os.environ, PYTHONIOENCODING="utf-8")
        try:
            return subprocess.run(
                argv, stdin=subprocess.DEVNULL, capture_output=True, env=env, check=False
            )
        except OSError as err:
            raise KeyringError(
                f"cannot run {self.path}: {err.strerror or err}",
                hint="check the keyring command, or pass --keyring-provider disabled",
            ) from err


def find_keyring(provider: str, search_path: str | None = None) -> KeyringCommand | None:
    """The keyring command ``provider`` asks for (``search_path``: where to
    look, default PATH), or None for none."""
    if provider not in KEYRING_PROVIDERS:
        raise UsageError(
            f"keyring provider {provider!r}: bundler has {', '.join(KEYRING_PROVIDERS)}",
            hint="'import' needs keyring installed beside bundler: use 'subprocess'",
        )
    if provider == "disabled":
        return None
    found = shutil.which(KEYRING_COMMAND, path=search_path)
    if found is None:
        if provider == "subprocess":
            raise UsageError(
                f"--keyring-provider subprocess: no {KEYRING_COMMAND!r} command on PATH",
                hint="install one (pipx install keyring), or pass --keyring-provider disabled",
            )
        return None
    return KeyringCommand(found)
