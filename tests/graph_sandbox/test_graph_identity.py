"""The identity platform: an unmodified msal acquires tokens (secret, certificate); its errors; tokens
Graph accepts and refuses; how a client finds the sandbox (sandbox.json, `workbench sandbox --graph`)."""
from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import msal
import requests

from conftest import SCOPE, check_bodies, http, token

from workbench.sandbox import Sandbox


def _session(sb: Sandbox) -> requests.Session:
    """requests session for msal that trusts only the sandbox CA (trust_env off: REQUESTS_CA_BUNDLE is set here)."""
    s = requests.Session()
    s.trust_env = False
    s.verify = str(sb.info.graph["ca_cert"])
    return s


def _msal(sb: Sandbox, credential, client_id: str | None = None, **kwargs) -> msal.ConfidentialClientApplication:
    g = sb.info.graph
    kwargs.setdefault("instance_discovery", False)
    return msal.ConfidentialClientApplication(client_id or g["client_id"], authority=g["authority"],
                                              client_credential=credential, http_client=_session(sb), **kwargs)


def _claims(sb: Sandbox, access_token: str) -> dict:
    """Verify the token the way a resource server would: signature by the key from the JWKS endpoint."""
    g = sb.info.graph
    with http(sb) as c:
        config = c.get(f"{g['authority']}/v2.0/.well-known/openid-configuration").json()
        keys = c.get(config["jwks_uri"]).json()["keys"]
    kid = jwt.get_unverified_header(access_token)["kid"]
    key = jwt.PyJWK([k for k in keys if k["kid"] == kid][0]).key
    return jwt.decode(access_token, key, algorithms=["RS256"], audience="https://graph.microsoft.com")


def test_msal_acquires_token_with_secret(graph_sb: Sandbox) -> None:
    result = _msal(graph_sb, graph_sb.info.graph["client_secret"]).acquire_token_for_client([SCOPE])
    assert result.get("token_type") == "Bearer", result
    claims = _claims(graph_sb, result["access_token"])
    assert claims["appid"] == graph_sb.info.graph["client_id"]
    assert claims["tid"] == graph_sb.info.graph["tenant_id"]
    assert {"Contacts.ReadWrite", "Mail.Send"} <= set(claims["roles"])
    assert claims["exp"] > claims["iat"] and claims["appidacr"] == "1"


def test_msal_acquires_token_with_certificate_sha1_thumbprint(graph_sb: Sandbox) -> None:
    g = graph_sb.info.graph
    pem = Path(g["client_certificate"]).read_text()
    assert "PRIVATE KEY" in pem and "CERTIFICATE" in pem
    result = _msal(graph_sb, {"private_key": pem, "thumbprint": g["thumbprint"]}).acquire_token_for_client([SCOPE])
    assert "access_token" in result, result
    assert _claims(graph_sb, result["access_token"])["appidacr"] == "2"


def test_msal_acquires_token_with_certificate_sha256_and_instance_discovery(graph_sb: Sandbox) -> None:
    """msal >= 1.35 signs PS256 with x5t#S256 when given the certificate; instance discovery at the sandbox."""
    g = graph_sb.info.graph
    pem = Path(g["client_certificate"]).read_text()
    discovery = g["authority"].rsplit("/", 1)[0] + "/common/discovery/instance"
    result = _msal(graph_sb, {"private_key": pem, "public_certificate": pem},
                   instance_discovery=discovery).acquire_token_for_client([SCOPE])
    assert "access_token" in result, result


def test_msal_wrong_secret_gives_invalid_client_7000215(graph_sb: Sandbox) -> None:
    result = _msal(graph_sb, "not-the-secret").acquire_token_for_client([SCOPE])
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")


def test_msal_unknown_app_gives_700016(graph_sb: Sandbox) -> None:
    result = _msal(graph_sb, "whatever", client_id="0b1c7c52-96b8-4d0e-9d6e-1f9a6c1a2b3c").acquire_token_for_client(
        [SCOPE])
    assert result["error"] == "unauthorized_client"
    assert result["error_codes"] == [700016]
    assert "0b1c7c52-96b8-4d0e-9d6e-1f9a6c1a2b3c" in result["error_description"]


def test_expired_certificate_and_unregistered_key_are_refused(graph_sb: Sandbox) -> None:
    expired = graph_sb.graph.add_app("Expired cert app", expired_certificate=True, secret=False)
    result = _msal(graph_sb, {"private_key": expired.key_pem, "thumbprint": expired.thumbprint},
                   client_id=expired.client_id).acquire_token_for_client([SCOPE])
    assert result["error"] == "invalid_client" and result["error_codes"] == [700027]
    assert "The key used is expired" in result["error_description"]
    other = graph_sb.graph.add_app("Other app")
    result = _msal(graph_sb, {"private_key": other.key_pem, "thumbprint": other.thumbprint}).acquire_token_for_client(
        [SCOPE])                                     # the default app, signed with another app's key
    assert result["error_codes"] == [700027] and "The key was not found" in result["error_description"]


def test_token_endpoint_refuses_other_grants_and_scopes(graph_sb: Sandbox) -> None:
    g = graph_sb.info.graph
    with http(graph_sb) as c:
        r = c.post(f"{g['authority']}/oauth2/v2.0/token", data={"grant_type": "password", "client_id": g["client_id"]})
        assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
        r = c.post(f"{g['authority']}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": g["client_id"], "client_secret": g["client_secret"],
            "scope": "Contacts.Read"})
        assert r.status_code == 400 and r.json()["error_codes"] == [1002012]
        r = c.post(f"{g['authority']}/oauth2/v2.0/token", auth=(g["client_id"], g["client_secret"]),
                   data={"grant_type": "client_credentials", "scope": SCOPE})       # client_secret_basic
        assert r.status_code == 200 and r.json()["token_type"] == "Bearer"


def test_graph_refuses_missing_expired_and_forged_tokens(graph_sb: Sandbox, client_for) -> None:
    path = "users/alice.jones@example.com/contacts"
    r = client_for(None).get(path)
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    expired = graph_sb.graph.issue_token(graph_sb.graph.default_app, lifetime=-60)
    r = client_for(expired).get(path)
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    claims = jwt.decode(token(graph_sb), options={"verify_signature": False})
    forged = jwt.encode(claims, "a-guessed-secret-long-enough-for-hs256!", algorithm="HS256")
    r = client_for(forged).get(path)
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert client_for(token(graph_sb)).get(path).status_code == 200


def test_sandbox_json_tells_a_client_how_to_connect(graph_sb: Sandbox) -> None:
    data = json.loads((graph_sb.state_dir / "sandbox.json").read_text())
    g = data["graph"]
    assert set(g) >= {"authority", "graph_url", "tenant_id", "client_id", "client_secret", "client_certificate",
                      "thumbprint", "scoped_mailboxes", "ca_cert"}
    assert g["authority"].endswith("/" + g["tenant_id"]) and g["graph_url"].endswith("/v1.0")
    assert data["url"].endswith("/EWS/Exchange.asmx")          # EWS keys stay beside it
    assert "alice.jones@example.com" in g["scoped_mailboxes"]
    outside = set(data["mailboxes"]) - set(g["scoped_mailboxes"])
    assert outside, "a mailbox outside the app's scope exists too"
    assert oct((graph_sb.state_dir / "sandbox.json").stat().st_mode & 0o777) == "0o600"
    assert oct(Path(g["client_certificate"]).stat().st_mode & 0o777) == "0o600"


def test_cli_sandbox_graph_runs_side_by_side(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.Popen([sys.executable, "-m", "workbench.sandbox", "--graph", "--state-dir", str(state)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not any(line.startswith("Ctrl-C") for line in lines):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        assert any(line.startswith("Graph endpoint") for line in lines)
        info = json.loads((state / "sandbox.json").read_text())
        g = info["graph"]
        with httpx.Client(verify=ssl.create_default_context(cafile=g["ca_cert"]), trust_env=False) as c:
            r = c.post(f"{g['authority']}/oauth2/v2.0/token", data={
                "grant_type": "client_credentials", "client_id": g["client_id"], "client_secret": g["client_secret"],
                "scope": SCOPE})
            r = c.get(f"{g['graph_url']}/users/{info['service_account']['username']}/contacts",
                      headers={"Authorization": "Bearer " + r.json()["access_token"]})
        assert r.status_code == 200 and r.json()["value"] == []
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert (state / "graph.json").is_file()


def test_state_saved_and_reloaded(tmp_path: Path, referee) -> None:
    """Apps, secrets, ids and contacts survive a restart (the CA too, so clients keep trusting)."""
    with Sandbox(tmp_path, graph=True, capture=True) as sb:
        first, box = sb.info.graph, sb.info.service_account.username
        with http(sb, base_url=first["graph_url"] + "/", headers={"Authorization": "Bearer " + token(sb)}) as c:
            created = c.post(f"users/{box}/contacts", json={"displayName": "Kept"}).json()
            imm = c.get(f"users/{box}/contacts/{created['id']}", headers={"Prefer": 'IdType="ImmutableId"'}).json()["id"]
            delta_link = c.get(f"users/{box}/contacts/delta").json()["@odata.deltaLink"]
        check_bodies(sb.graph.captured, referee)
    with Sandbox(tmp_path, graph=True, capture=True) as sb:
        again = sb.info.graph
        assert (again["client_id"], again["client_secret"], again["tenant_id"], again["thumbprint"]) == (
            first["client_id"], first["client_secret"], first["tenant_id"], first["thumbprint"])
        with http(sb, base_url=again["graph_url"] + "/", headers={"Authorization": "Bearer " + token(sb)}) as c:
            got = c.get(f"users/{box}/contacts/{imm}")
            assert got.status_code == 200 and got.json()["displayName"] == "Kept"
            c.patch(f"users/{box}/contacts/{created['id']}", json={"jobTitle": "After restart"})
            changes = c.get(delta_link.replace(first["graph_url"], again["graph_url"])).json()["value"]
        assert [(e["id"], e["jobTitle"]) for e in changes] == [(created["id"], "After restart")]
        check_bodies(sb.graph.captured, referee)
