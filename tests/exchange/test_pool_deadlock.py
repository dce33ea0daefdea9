"""The pool-shrink deadlock of exchangelib (upstream #1373) and the backend's way around it.

No network: sessions are created but never used. Each case runs in a fresh interpreter, so a thread
that deadlocks there cannot hold anything of the test process.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

SETUP = """
import threading
from exchangelib import Configuration, Credentials, NTLM, Version, FailFast
from exchangelib.version import EXCHANGE_2016
from {module} import {cls} as P
cfg = Configuration(service_endpoint="https://127.0.0.1:9/EWS/Exchange.asmx", credentials=Credentials("a@b.c", "x"),
                    auth_type=NTLM, version=Version(build=EXCHANGE_2016), max_connections=3, retry_policy=FailFast())
p = P(config=cfg)
def shrink():
    t = threading.Thread(target=p.decrease_poolsize, daemon=True)
    t.start()
    t.join(10)          # a hang detector, not a timing: the call takes microseconds when it returns
    return "hung" if t.is_alive() else "returned"
"""


def run(module: str, cls: str, body: str) -> str:
    code = SETUP.format(module=module, cls=cls) + textwrap.dedent(body)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


BOTH_BUSY = """
s1, s2 = p.get_session(), p.get_session()        # two mailbox threads hold a session each; the queue is empty
print(shrink(), p._session_pool_size)
"""


def test_the_installed_exchangelib_still_deadlocks_on_pool_shrink():
    """If this fails, upstream fixed #1373: PoolSafeProtocol can go (docs/exchange.md says why it exists)."""
    assert run("exchangelib.protocol", "Protocol", BOTH_BUSY).split()[0] == "hung"


def test_pool_safe_protocol_returns_when_every_session_is_busy():
    assert run("workbench.exchange.pool", "PoolSafeProtocol", BOTH_BUSY) == "returned 2"


def test_pool_safe_protocol_still_shrinks_an_idle_session():
    body = """
    s1, s2 = p.get_session(), p.get_session()
    p.release_session(s2)                           # one idle session in the queue
    print(shrink(), p._session_pool_size, p._session_pool.qsize())
    """
    assert run("workbench.exchange.pool", "PoolSafeProtocol", body) == "returned 1 0"


def test_the_pool_never_shrinks_below_one_session():
    body = """
    from exchangelib.errors import SessionPoolMinSizeReached
    s1 = p.get_session(); p.release_session(s1)
    try:
        p.decrease_poolsize()
        print("shrunk")
    except SessionPoolMinSizeReached:
        print("min", p._session_pool_size)
    """
    assert run("workbench.exchange.pool", "PoolSafeProtocol", body) == "min 1"
