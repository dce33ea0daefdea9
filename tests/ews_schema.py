"""Microsoft's EWS schema for the tests: where it is, and a validator for whole SOAP bodies.

The schema is not in the repository (``../shared/ews-schema``, or ``$EWS_SCHEMA_DIR``). Without it the
tests that exchange SOAP with a sandbox cannot prove what they claim, so a missing directory FAILS
them with this message instead of skipping the validation quietly.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree

REPO = Path(__file__).resolve().parents[1]
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
TYPES = "http://schemas.microsoft.com/exchange/services/2006/types"
# exchangelib's version guessing probes with "Exchange2015_SP1", which is not in ExchangeVersionType; the sandbox
# refuses it with ErrorInvalidServerVersion as Exchange does (a test asserts that), so only that value is exempt.
CLIENT_PROBE_VERSIONS = {"Exchange2015_SP1"}


def schema_dir() -> Path:
    """$EWS_SCHEMA_DIR if set, else ../shared/ews-schema beside the checkout."""
    override = os.environ.get("EWS_SCHEMA_DIR")
    return Path(override) if override else REPO.parent / "shared" / "ews-schema"


def missing_message(directory: Path) -> str:
    return (f"EWS schema not found: {directory / 'messages.xsd'} does not exist. The sandbox and conformance "
            "tests validate every SOAP body against Microsoft's messages.xsd/types.xsd; put the schema in "
            "../shared/ews-schema beside the checkout or point EWS_SCHEMA_DIR at it.")


def require_schema_dir() -> Path:
    directory = schema_dir()
    if not (directory / "messages.xsd").is_file() or not (directory / "types.xsd").is_file():
        pytest.fail(missing_message(directory), pytrace=False)
    return directory


class BodyValidator:
    """Validates each EWS element of a SOAP envelope: header children against types.xsd, body children
    against messages.xsd (SOAP faults are outside the EWS schema)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.messages = etree.XMLSchema(etree.parse(str(directory / "messages.xsd")))
        self.types = etree.XMLSchema(etree.parse(str(directory / "types.xsd")))

    def errors(self, body: bytes) -> list[str]:
        try:
            env = etree.fromstring(body)
        except etree.XMLSyntaxError:
            return []          # not SOAP (malformed requests sent on purpose, HTML error pages)
        if env.tag != f"{{{SOAP}}}Envelope":
            return []
        parts = []
        header = env.find(f"{{{SOAP}}}Header")
        if header is not None:
            parts += [(c, self.types) for c in header if etree.QName(c).namespace == TYPES]
        soap_body = env.find(f"{{{SOAP}}}Body")
        if soap_body is not None:
            parts += [(c, self.messages) for c in soap_body if c.tag != f"{{{SOAP}}}Fault"]
        problems = []
        for element, schema in parts:
            if etree.QName(element).localname == "RequestServerVersion" \
                    and element.get("Version") in CLIENT_PROBE_VERSIONS:
                continue
            doc = etree.ElementTree(etree.fromstring(etree.tostring(element)))
            if not schema.validate(doc):
                problems += [f"{etree.QName(element).localname} L{e.line}: {e.message}" for e in schema.error_log]
        return problems
