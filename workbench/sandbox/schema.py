"""Whole-request validation against Microsoft's EWS schema, as Exchange does before it processes a request.

Exchange deserialises a request against messages.xsd/types.xsd first; a request that breaks the schema
(MaxChangesReturned 600, an unknown element, a value outside an enumeration) never reaches the
operation: it is answered with an HTTP 500 SOAP fault ``ErrorSchemaValidation``. The schema files are
Microsoft's and are not shipped in the repository; ``find_schema_dir`` looks for them (an explicit
directory, ``$EWS_SCHEMA_DIR``, then ``../shared/ews-schema`` beside the checkout). The compiled schema
is cached once per process and directory (compiling takes about a second, validating a request
microseconds).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from lxml import etree

from .soap import SOAP, T, SoapFault

_REPO_DEFAULT = Path(__file__).resolve().parents[2].parent / "shared" / "ews-schema"
_CACHE: dict[Path, etree.XMLSchema] = {}
_CACHE_LOCK = threading.Lock()
# The value of RequestServerVersion is the version check's business: Exchange answers a version it does not
# speak with ErrorInvalidServerVersion, not with a schema fault (clients rely on that to step down).
_VERSION_HEADER = f"{{{T}}}RequestServerVersion"


def find_schema_dir(explicit: Path | str | None = None) -> Path | None:
    """The directory holding messages.xsd: ``explicit``, else $EWS_SCHEMA_DIR, else ../shared/ews-schema."""
    if explicit is not None:
        candidates = [Path(explicit)]
    else:
        env = os.environ.get("EWS_SCHEMA_DIR")
        candidates = [Path(env)] if env else [_REPO_DEFAULT]
    for directory in candidates:
        if (directory / "messages.xsd").is_file():
            return directory.resolve()
    return None


def compiled(directory: Path) -> etree.XMLSchema:
    """messages.xsd (which imports types.xsd) compiled once per process."""
    key = directory.resolve()
    with _CACHE_LOCK:
        schema = _CACHE.get(key)
        if schema is None:
            schema = etree.XMLSchema(etree.parse(str(key / "messages.xsd")))
            _CACHE[key] = schema
        return schema


class RequestSchema:
    """Checks each EWS element of a request envelope (header children and the body's operation)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.schema = compiled(directory)
        self._lock = threading.Lock()     # an XMLSchema's error log is per object: one validation at a time

    def check(self, envelope: etree._Element) -> None:
        """Raise SoapFault(ErrorSchemaValidation) naming the first violation."""
        parts: list[etree._Element] = []
        header = envelope.find(f"{{{SOAP}}}Header")
        if header is not None:
            parts += [c for c in header if isinstance(c.tag, str) and c.tag != _VERSION_HEADER]
        body = envelope.find(f"{{{SOAP}}}Body")
        if body is not None:
            parts += [c for c in body if isinstance(c.tag, str)]
        with self._lock:
            for element in parts:
                if not self.schema.validate(element):
                    error = self.schema.error_log.last_error
                    message = error.message if error is not None else "invalid content"
                    line = (error.line if error is not None and error.line else element.sourceline) or 0
                    column = error.column if error is not None and error.column else 0
                    raise SoapFault("ErrorSchemaValidation", f"The request failed schema validation: {message}",
                                    violation=(line, column, message))
