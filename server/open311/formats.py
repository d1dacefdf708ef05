"""GeoReport v2 on the wire (Open311): `.json` and `.xml` of the same records, and its error list.

Pure: no HTTP, no SQL. Records are plain dicts whose keys are the specification's field names;
`render` writes them as the specification's JSON arrays or XML documents, whose element names
(`services/service`, `service_requests/request`, `errors/error`, nested `attributes/attribute`…)
come from the tables below. Datetimes are ISO 8601 with their zone; booleans are `true`/`false`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any, Literal

import msgspec

__all__ = ["MEDIA_TYPES", "Format", "Open311Error", "render", "split_format"]

Format = Literal["json", "xml"]
MEDIA_TYPES: dict[str, str] = {"json": "application/json", "xml": "text/xml; charset=utf-8"}
# Element name of each item of a nested list, by the list's own name.
_ITEM_NAMES = {
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
    "services": "service",
    "service_requests": "request",
    "errors": "error",
}


class Open311Error(Exception):
    """A refusal in the specification's shape: `[{code, description}]` with an HTTP status."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description

    def records(self) -> list[dict[str, Any]]:
        return [{"code": self.status, "description": self.description}]


def split_format(name: str) -> tuple[str, Format]:
    """`services.json` → (`services`, `json`); anything but `.json`/`.xml` is an unknown resource."""
    stem, dot, fmt = name.rpartition(".")
    if not dot or fmt not in MEDIA_TYPES or not stem:
        raise Open311Error(404, f"no resource {name!r}: name it with .json or .xml")
    return stem, fmt  # type: ignore[return-value]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


def _element(parent: ET.Element, name: str, value: Any) -> None:
    node = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for key, inner in value.items():
            _element(node, key, inner)
    elif isinstance(value, list):
        item = _ITEM_NAMES.get(name, "item")
        for inner in value:
            _element(node, item, inner)
    else:
        node.text = _text(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    raise TypeError(f"cannot encode {type(value).__name__}")


def render(payload: list[dict[str, Any]] | dict[str, Any], fmt: Format, root: str) -> bytes:
    """A list of records (or one object, e.g. discovery) as JSON, or as XML under `root`."""
    if fmt == "json":
        return msgspec.json.encode(payload, enc_hook=_json_default)
    top = ET.Element(root)
    if isinstance(payload, dict):
        for key, value in payload.items():
            _element(top, key, value)
    else:
        item = _ITEM_NAMES.get(root, "item")
        for record in payload:
            _element(top, item, record)
    return ('<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="unicode")).encode()
