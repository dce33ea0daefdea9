"""The demo's throwaway passwords, kept in a demo-only file so a kernel or a dashboard needs no variable.

``workbench demo`` writes ``<demo dir>/demo-secrets.json`` (mode 0600): the demo keystore's password, the
sandbox service account's password and the sandbox Graph app's client secret, marked as the demo's and bound
to the demo's store, keystore, account and app. ``lookup`` hands a secret out only when all of it holds for
the store this process works on (``WORKBENCH_STORE``): the file sits beside that store, carries the mark, names
that very store and the keystore, account or app asked for, belongs to this user and is readable by nobody
else. A file that breaks one of these is refused (DEMO_SECRETS_REFUSED); a store without such a file is not a
demo store and keeps the usual sources (environment, keyring, prompt). No other store ever reads a password
file.
"""
from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.errors import WorkbenchError

FILE_NAME = "demo-secrets.json"
MARK = "workbench demo secrets: throwaway passwords of the demo sandbox, never for a real store"


@dataclass(frozen=True)
class DemoSecrets:
    store: str                 # absolute path of the demo store these belong to
    keystore: str              # absolute path of the demo keystore
    account: str               # the sandbox service account
    keystore_password: str
    ews_password: str
    mark: str = MARK
    graph_client_id: str = ""        # the sandbox Graph app (empty: a demo made before it ran Graph)
    graph_client_secret: str = ""


def write(directory: Path, secrets: DemoSecrets) -> Path:
    """Write the demo's secrets file in ``directory`` (0600 from the first byte, replaced atomically)."""
    from workbench.files import write_private
    path = directory / FILE_NAME
    write_private(path, (json.dumps(asdict(secrets), indent=2) + "\n").encode("utf-8"))
    return path


def read(path: Path) -> DemoSecrets:
    """The secrets in ``path``, or DEMO_SECRETS_REFUSED naming what is wrong with the file."""
    st = path.stat()
    if st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o077:
        raise WorkbenchError("DEMO_SECRETS_REFUSED", f"{path}: mode {stat.S_IMODE(st.st_mode):04o}, owner uid "
                             f"{st.st_uid}; must be 0600 and yours")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        found = DemoSecrets(**data)
    except (ValueError, TypeError) as exc:
        raise WorkbenchError("DEMO_SECRETS_REFUSED", f"{path}: not a demo secrets file ({type(exc).__name__})") \
            from None
    if found.mark != MARK:
        raise WorkbenchError("DEMO_SECRETS_REFUSED", f"{path}: not marked as the demo's")
    return found


def for_store(store: Path) -> DemoSecrets | None:
    """The demo secrets of ``store`` when it is a demo store; None for any other store."""
    store = store.expanduser().absolute()
    path = store.parent / FILE_NAME
    if not path.is_file():
        return None
    found = read(path)
    if Path(found.store) != store:
        raise WorkbenchError("DEMO_SECRETS_REFUSED", f"{path} belongs to the demo store {found.store}, "
                             f"not to {store}")
    return found


def lookup(store: Path, kind: str, subject: str) -> str | None:
    """The demo password of ``kind`` ("keystore" path, "ews" account or "graph" client id ``subject``) for
    ``store``, or None.

    None when ``store`` is not a demo store, or the setting asked about is no longer the demo's own
    (keystore_path, impersonation_account or graph_client_id changed): the demo's password is never offered elsewhere.
    """
    found = for_store(store)
    if found is None:
        return None
    if kind == "keystore" and Path(subject).expanduser().absolute() == Path(found.keystore):
        return found.keystore_password
    if kind == "ews" and subject.lower() == found.account.lower():
        return found.ews_password
    if kind == "graph" and found.graph_client_secret and subject.lower() == found.graph_client_id.lower():
        return found.graph_client_secret
    return None
