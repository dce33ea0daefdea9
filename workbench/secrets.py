"""Where the two passwords come from: environment, OS keyring, or a prompt.

Order: the environment variable (``WORKBENCH_EWS_PASSWORD``,
``WORKBENCH_KEYSTORE_PASSWORD``), then the OS keyring when the optional
``keyring`` module is importable and has an entry (service
``exchange-contact-sync-workbench``, user ``ews:<account>`` / ``keystore:<path>``),
then a prompt — only when stdin is a terminal. Otherwise ``SECRET_MISSING``.

Passwords are never stored, logged or printed by the workbench. Every value
handed out here is remembered (in this process only) so ``redact`` can scrub it
from any text that is about to be shown or written (error details, journal).
The first password remembered also switches core dumps off for the process
(``RLIMIT_CORE`` 0 and, on Linux, ``PR_SET_DUMPABLE`` 0), so a crash cannot
leave a core file holding it. No exchangelib here.
"""
from __future__ import annotations

import ctypes
import getpass
import os
import resource
import sys
import threading
from typing import Callable

EWS_PASSWORD_ENV = "WORKBENCH_EWS_PASSWORD"
KEYSTORE_PASSWORD_ENV = "WORKBENCH_KEYSTORE_PASSWORD"
KEYRING_SERVICE = "exchange-contact-sync-workbench"
MASK = "********"

_PR_SET_DUMPABLE = 4

_seen: set[str] = set()
_lock = threading.Lock()


def no_core_dumps() -> None:
    """No core file for this process (and its children): it holds a password in memory.

    Best effort: a platform without RLIMIT_CORE or prctl keeps what it has.
    """
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
        except (OSError, AttributeError):
            pass


def remember(value: str) -> str:
    """Note a password this process holds, so ``redact`` masks it wherever text leaves the process."""
    if value:
        with _lock:
            first = not _seen
            _seen.add(value)
        if first:
            no_core_dumps()
    return value


def redact(text: str) -> str:
    """``text`` with every password this process obtained replaced by ``********``."""
    if not text:
        return text
    with _lock:
        secrets = sorted(_seen, key=len, reverse=True)
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


def _from_keyring(user: str) -> str | None:
    try:
        import keyring  # optional; not a dependency
    except Exception:
        return None
    try:
        value = keyring.get_password(KEYRING_SERVICE, user)
    except Exception:        # no backend, locked keyring, D-Bus missing ...
        return None
    return value or None


def _interactive() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def get_secret(env: str, keyring_user: str, prompt: str, *, confirm: bool = False,
               ask: Callable[[str], str] | None = None) -> str:
    """The secret from ``env``, the keyring, or a prompt (TTY only); else SECRET_MISSING."""
    from workbench.errors import WorkbenchError
    value = os.environ.get(env)
    if value:
        return remember(value)
    value = _from_keyring(keyring_user)
    if value:
        return remember(value)
    if ask is None and not _interactive():
        raise WorkbenchError("SECRET_MISSING", f"{env} is not set, no keyring entry, and stdin is not a terminal")
    ask = ask or getpass.getpass
    value = ask(prompt)
    if confirm:
        if ask("Again: ") != value:
            raise WorkbenchError("SECRET_MISSING", "the two passwords typed differ")
    if not value:
        raise WorkbenchError("SECRET_MISSING", f"an empty password was typed; set {env} instead")
    return remember(value)


def ews_password(account: str = "", **kw) -> str:
    """Password of the impersonation account."""
    return get_secret(EWS_PASSWORD_ENV, f"ews:{account}", f"Password for {account or 'the impersonation account'}: ",
                      **kw)


def keystore_password(path: str = "", *, confirm: bool = False, **kw) -> str:
    """Password of the keystore at ``path`` (``confirm`` when a new keystore is created)."""
    return get_secret(KEYSTORE_PASSWORD_ENV, f"keystore:{path}", f"Keystore password for {path or 'the keystore'}: ",
                      confirm=confirm, **kw)
