"""Where the two passwords come from: environment, the demo's own file, OS keyring, or asking the user.

Order: the environment variable (``WORKBENCH_EWS_PASSWORD``,
``WORKBENCH_KEYSTORE_PASSWORD``); for the demo store only, its demo-secrets file
(``workbench.demo_secrets``); the OS keyring when the optional ``keyring`` module is
importable and has an entry (service ``exchange-contact-sync-workbench``, user
``ews:<account>`` / ``keystore:<path>``); then the user is asked where they are:

- a front end that installed an asker (``set_asker``: the dashboard's modal password screen) —
  from whichever thread needs the password;
- a Jupyter kernel: ipykernel's hidden ``getpass`` input in the notebook;
- a terminal: ``getpass`` on the main thread only (no other thread ever reads the terminal).

A typed password is kept for the life of the process (kernel, dashboard, command). Where nothing
can ask (nbclient without stdin, CI, a service) it is ``SECRET_MISSING``.

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
_asked: dict[tuple[str, str], str] = {}         # (env, keyring user) -> what the user typed
_asker: Callable[[str], str] | None = None
_ask_lock = threading.Lock()


def set_asker(asker: Callable[[str], str] | None) -> None:
    """Install (or remove, with None) the front end's way of asking: ``asker(prompt) -> password``.

    It is called from worker threads and must block until the user answered; raising
    ``WorkbenchError("SECRET_MISSING", ...)`` means the user declined. Passwords typed so far are
    forgotten: they belong to the front end that asked for them.
    """
    global _asker
    with _ask_lock:
        _asker = asker
        _asked.clear()              # what was typed belongs to the front end that asked


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


def _in_kernel() -> bool:
    """True inside a Jupyter (ipykernel) kernel, whose ``getpass`` asks in the notebook."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython
    return getattr(get_ipython(), "kernel", None) is not None


def _terminal() -> bool:
    """A prompt may use the terminal: stdin is one, and this is the main thread."""
    try:
        tty = sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and threading.current_thread() is threading.main_thread()


def _ask_user(env: str, prompt: str) -> Callable[[str], str]:
    """The way to ask the user here (see the module docstring), or SECRET_MISSING."""
    from workbench.errors import WorkbenchError
    if _asker is not None:
        return _asker
    if _in_kernel():
        def in_notebook(text: str) -> str:
            try:
                return getpass.getpass(text)
            except NotImplementedError:      # IPython's StdinNotImplementedError: a frontend without input
                raise WorkbenchError("SECRET_MISSING", f"{env} is not set, no keyring entry, and this notebook "
                                     "frontend cannot ask (no input requests)") from None
        return in_notebook
    if _terminal():
        return getpass.getpass
    raise WorkbenchError("SECRET_MISSING", f"{env} is not set, no keyring entry, and nothing here can ask "
                         "(stdin is not a terminal)")


def _from_demo(kind: str, subject: str) -> str | None:
    from workbench import demo_secrets
    from workbench.paths import active_store
    return demo_secrets.lookup(active_store(), kind, subject)


def get_secret(env: str, keyring_user: str, prompt: str, *, confirm: bool = False,
               ask: Callable[[str], str] | None = None, demo: tuple[str, str] | None = None) -> str:
    """The secret from ``env``, the demo file (``demo``: kind, subject), the keyring, or the user."""
    from workbench.errors import WorkbenchError
    value = os.environ.get(env) or (_from_demo(*demo) if demo and not confirm else None) \
        or _from_keyring(keyring_user)
    if value:
        return remember(value)
    key = (env, keyring_user)
    with _ask_lock:                 # one question at a time; who waited finds the answer already given
        if not confirm and key in _asked:
            return _asked[key]
        ask = ask or _ask_user(env, prompt)
        value = ask(prompt)
        if confirm and ask("Again: ") != value:
            raise WorkbenchError("SECRET_MISSING", "the two passwords typed differ")
        if not value:
            raise WorkbenchError("SECRET_MISSING", f"an empty password was typed; set {env} instead")
        _asked[key] = remember(value)
    return value


def ews_password(account: str = "", **kw) -> str:
    """Password of the impersonation account."""
    return get_secret(EWS_PASSWORD_ENV, f"ews:{account}", f"Password for {account or 'the impersonation account'}: ",
                      demo=("ews", account), **kw)


def keystore_password(path: str = "", *, confirm: bool = False, **kw) -> str:
    """Password of the keystore at ``path`` (``confirm`` when a new keystore is created)."""
    return get_secret(KEYSTORE_PASSWORD_ENV, f"keystore:{path}", f"Keystore password for {path or 'the keystore'}: ",
                      confirm=confirm, demo=("keystore", path), **kw)
