"""The identity platform for the sandbox tenant: discovery documents, JWKS, the v2.0 token endpoint
(client credentials with a secret or a certificate assertion) and validation of Graph access tokens."""
from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..files import write_private
from .registry import App, Registry
from .wire import GraphError, Request, Response

GRAPH_AUDIENCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_LIFETIME = 3599
SIGNING_KEY_FILE = "graph-signing.key"


class IdentityError(Exception):
    """An error as the identity platform answers it: error, AADSTS code and description."""

    def __init__(self, status: int, error: str, number: int, description: str):
        super().__init__(error, number, description)
        self.status, self.error, self.number, self.description = status, error, number, description

    def response(self) -> Response:
        trace = str(uuid.uuid4())
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        body = {"error": self.error,
                "error_description": f"AADSTS{self.number}: {self.description} Trace ID: {trace} "
                                     f"Correlation ID: {trace} Timestamp: {stamp}",
                "error_codes": [self.number], "timestamp": stamp, "trace_id": trace, "correlation_id": trace,
                "error_uri": f"https://login.microsoftonline.com/error?code={self.number}"}
        return Response(self.status, body)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return key


class Identity:
    """Issues and checks tokens for one tenant. ``base_url`` is the server's https://127.0.0.1:PORT."""

    def __init__(self, registry: Registry, state_dir: Path, base_url: str):
        self.registry = registry
        self.base_url = base_url
        self.key = _load_or_create_key(state_dir / SIGNING_KEY_FILE)
        public_der = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)
        digest = hashes.Hash(hashes.SHA1())  # noqa: S303 - a key id, not a security boundary
        digest.update(public_der)
        self.kid = _b64url(digest.finalize())

    @property
    def tenant_id(self) -> str:
        return self.registry.tenant_id

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant_id}"

    @property
    def token_endpoint(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/{self.tenant_id}/v2.0"

    @property
    def token_issuer(self) -> str:
        return f"{self.base_url}/sts/{self.tenant_id}/"

    # --- documents
    def openid_configuration(self) -> dict[str, Any]:
        a = self.authority
        return {"token_endpoint": self.token_endpoint,
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                          "client_secret_basic"],
                "jwks_uri": f"{a}/discovery/v2.0/keys", "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"], "issuer": self.issuer,
                "request_uri_parameter_supported": False, "authorization_endpoint": f"{a}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{a}/oauth2/v2.0/devicecode", "http_logout_supported": True,
                "frontchannel_logout_supported": True, "end_session_endpoint": f"{a}/oauth2/v2.0/logout",
                "tenant_region_scope": "EU", "cloud_instance_name": "sandbox.local",
                "cloud_graph_host_name": "127.0.0.1", "msgraph_host": urllib.parse.urlsplit(self.base_url).netloc}

    def instance_discovery(self, authorization_endpoint: str) -> dict[str, Any]:
        host = urllib.parse.urlsplit(self.base_url).netloc
        return {"tenant_discovery_endpoint": f"{self.authority}/v2.0/.well-known/openid-configuration",
                "api-version": "1.1", "metadata": [{"preferred_network": host, "preferred_cache": host,
                                                     "aliases": [host]}]}

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"use": "sig", "kid": self.kid, "x5t": self.kid, "issuer": self.issuer})
        return {"keys": [jwk]}

    # --- the token endpoint
    def token(self, tenant: str, form: dict[str, str]) -> dict[str, Any]:
        if tenant.lower() not in (self.tenant_id, "organizations"):
            raise IdentityError(400, "invalid_request", 90002, f"Tenant '{tenant}' not found. Check to make sure "
                                "you have the correct tenant ID and are signing into the correct cloud.")
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            raise IdentityError(400, "unsupported_grant_type", 70003,
                                f"The app requested an unsupported grant type '{grant}'.")
        client_id = form.get("client_id", "")
        if not client_id:
            raise IdentityError(400, "invalid_request", 900144,
                                "The request body must contain the following parameter: 'client_id'.")
        scopes = form.get("scope", "").split()
        if not any(s.lower() in (f"{GRAPH_AUDIENCE}/.default", f"{GRAPH_APP_ID}/.default") for s in scopes):
            raise IdentityError(400, "invalid_scope", 1002012,
                                f"The provided value for scope {form.get('scope', '')} is not valid. Client "
                                "credential flows must have a scope value with /.default suffixed to the resource "
                                "identifier (application ID URI).")
        app = self.registry.get(client_id)
        if app is None:
            raise IdentityError(400, "unauthorized_client", 700016,
                                f"Application with identifier '{client_id}' was not found in the directory "
                                f"'{self.tenant_id}'. This can happen if the application has not been installed "
                                "by the administrator of the tenant or consented to by any user in the tenant.")
        if form.get("client_assertion"):
            self._check_assertion(app, form)
            method = "2"
        elif form.get("client_secret"):
            if app.secret is None or not hmac.compare_digest(app.secret, form["client_secret"]):
                raise IdentityError(401, "invalid_client", 7000215,
                                    "Invalid client secret provided. Ensure the secret being sent in the request "
                                    "is the client secret value, not the client secret ID, for a secret added to "
                                    f"app '{app.client_id}'.")
            method = "1"
        else:
            raise IdentityError(401, "invalid_client", 7000218, "The request body must contain the following "
                                "parameter: 'client_assertion' or 'client_secret'.")
        return {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "ext_expires_in": TOKEN_LIFETIME,
                "access_token": self.issue(app, method)}

    def _check_assertion(self, app: App, form: dict[str, str]) -> None:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise IdentityError(400, "invalid_request", 700023,
                                f"client_assertion_type must be '{ASSERTION_TYPE}'.")
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise IdentityError(401, "invalid_client", 50027, "JWT token is invalid or malformed.") from None
        cert = app.certificate
        if "x5t#S256" in header:
            presented, algorithm = header["x5t#S256"], hashes.SHA256()
        else:
            presented, algorithm = header.get("x5t", ""), hashes.SHA1()  # noqa: S303 - x5t is SHA-1 by definition
        expected = _b64url(cert.fingerprint(algorithm)) if cert is not None else None
        if expected is None or presented.rstrip("=") != expected:
            raise IdentityError(401, "invalid_client", 700027, "Client assertion contains an invalid signature. "
                                f"[Reason - The key was not found., Thumbprint of key used by client: '{presented}']")
        now = dt.datetime.now(dt.timezone.utc)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise IdentityError(401, "invalid_client", 700027, "Client assertion contains an invalid signature. "
                                f"[Reason - The key used is expired., Thumbprint of key used by client: "
                                f"'{presented}', Found key 'Start={cert.not_valid_before_utc:%m/%d/%Y %H:%M:%S}, "
                                f"End={cert.not_valid_after_utc:%m/%d/%Y %H:%M:%S}']")
        try:
            claims = jwt.decode(assertion, cert.public_key(), algorithms=["RS256", "PS256"],
                                audience=self.token_endpoint, options={"require": ["exp", "aud", "iss", "sub"]})
        except jwt.ExpiredSignatureError:
            raise IdentityError(401, "invalid_client", 700024,
                                "Client assertion is not within its valid time range.") from None
        except jwt.InvalidAudienceError:
            raise IdentityError(401, "invalid_client", 700027, "Client assertion contains an invalid signature. "
                                f"[Reason - The audience is not {self.token_endpoint}.]") from None
        except jwt.PyJWTError as exc:
            raise IdentityError(401, "invalid_client", 700027, "Client assertion contains an invalid signature. "
                                f"[Reason - {exc}.]") from None
        if claims["iss"] != app.client_id or claims["sub"] != app.client_id:
            raise IdentityError(401, "invalid_client", 700021,
                                "Client assertion application identifier doesn't match 'client_id' parameter.")

    def issue(self, app: App, method: str = "1", lifetime: int = TOKEN_LIFETIME) -> str:
        """An RS256 access token for Graph naming the app, its roles and the tenant."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": GRAPH_AUDIENCE, "iss": self.token_issuer, "iat": now, "nbf": now, "exp": now + lifetime,
            "app_displayname": app.name, "appid": app.client_id, "appidacr": method, "idp": self.token_issuer,
            "idtyp": "app", "oid": app.object_id, "sub": app.object_id, "tid": self.tenant_id,
            "uti": _b64url(uuid.uuid4().bytes), "ver": "1.0"}
        if app.roles:
            claims["roles"] = list(app.roles)
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid, "x5t": self.kid})

    # --- Graph side
    def authenticate(self, request: Request) -> tuple[App, frozenset[str]]:
        """The app and roles of the request's bearer token, or 401 InvalidAuthenticationToken."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _token_error("Access token is empty.")
        try:
            claims = jwt.decode(token.strip(), self.key.public_key(), algorithms=["RS256"],
                                audience=[GRAPH_AUDIENCE, GRAPH_APP_ID], issuer=self.token_issuer,
                                options={"require": ["exp", "appid", "tid"]})
        except jwt.ExpiredSignatureError:
            raise _token_error("Lifetime validation failed, the token is expired.") from None
        except jwt.InvalidSignatureError:
            raise _token_error("Signature validation failed.") from None
        except jwt.PyJWTError:
            raise _token_error("IDX14100: JWT is not well formed.") from None
        app = self.registry.get(claims["appid"])
        if app is None or claims["tid"] != self.tenant_id:
            raise _token_error("The application named in the token does not exist in the tenant.")
        return app, frozenset(claims.get("roles", ()))


def _token_error(message: str) -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message, {
        "WWW-Authenticate": f'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
                            f'oauth2/authorize", client_id="{GRAPH_APP_ID}"'})


def handle(identity: Identity, request: Request) -> Response | None:
    """Answer an identity-platform path, or None when the path is not one."""
    parts = [p for p in request.path.split("/") if p]
    if request.method == "GET" and parts == ["common", "discovery", "instance"]:
        return Response(200, identity.instance_discovery(request.query.get("authorization_endpoint", "")))
    if len(parts) < 2:
        return None
    tenant, rest = parts[0], [p.lower() for p in parts[1:]]
    known = tenant.lower() in (identity.tenant_id, "organizations", "common")
    if request.method == "GET" and rest == ["v2.0", ".well-known", "openid-configuration"]:
        if not known:
            return IdentityError(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.").response()
        return Response(200, identity.openid_configuration())
    if request.method == "GET" and rest == ["discovery", "v2.0", "keys"]:
        return Response(200, identity.jwks())
    if rest == ["oauth2", "v2.0", "token"]:
        if request.method != "POST":
            return IdentityError(405, "invalid_request", 900561,
                                 "The endpoint only accepts POST requests.").response()
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(request.body.decode("utf-8", "replace")).items()}
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":                           # client_secret_basic
            try:
                client_id, _, secret = base64.b64decode(credentials).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = secret = ""
            form.setdefault("client_id", urllib.parse.unquote_plus(client_id))
            form.setdefault("client_secret", urllib.parse.unquote_plus(secret))
        try:
            return Response(200, identity.token(tenant, form))
        except IdentityError as err:
            return err.response()
    return None
