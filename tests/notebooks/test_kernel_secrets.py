"""In a Jupyter kernel a missing password is asked with ipykernel's hidden input, once for the kernel's life;
a frontend that cannot answer input requests (nbclient's default) gets SECRET_MISSING."""
from __future__ import annotations

import os
import queue

from jupyter_client.manager import start_new_kernel

CODE = """
from workbench import secrets
first = secrets.keystore_password({path!r})
again = secrets.keystore_password({path!r})
print(len(first), again == first)
"""


def _kernel(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env["WORKBENCH_STORE"] = str(tmp_path / "workbench.duckdb")       # not a demo store: no secrets file
    return start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)


def _run(kc, code: str, *, allow_stdin: bool, answer: str | None = None) -> tuple[list[dict], str]:
    """Execute ``code``; answer each input request with ``answer``; (input requests, stdout + errors)."""
    msg_id = kc.execute(code, allow_stdin=allow_stdin)
    requests, text = [], []
    while True:
        if allow_stdin:
            try:
                req = kc.get_stdin_msg(timeout=0.1)
                requests.append(req["content"])
                kc.input(answer)
            except queue.Empty:
                pass
        try:
            msg = kc.get_iopub_msg(timeout=0.1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            text.append(content["text"])
        elif kind == "error":
            text.append(f"{content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            return requests, "".join(text)


def test_the_kernel_asks_once_with_a_hidden_prompt(tmp_path):
    km, kc = _kernel(tmp_path)
    try:
        requests, out = _run(kc, CODE.format(path=str(tmp_path / "exchange.jks")), allow_stdin=True,
                             answer="typed-in-the-notebook")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert len(requests) == 1, requests                 # the second call reused the answer
    assert requests[0]["password"] is True and "Keystore password for" in requests[0]["prompt"]
    assert out.split() == [str(len("typed-in-the-notebook")), "True"]


def test_a_frontend_without_input_gets_secret_missing(tmp_path):
    km, kc = _kernel(tmp_path)
    try:
        _requests, out = _run(kc, CODE.format(path=str(tmp_path / "exchange.jks")), allow_stdin=False)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert "WorkbenchError: SECRET_MISSING" in out and "cannot ask" in out, out
