"""S3's XML in and out: answers built as element trees, request bodies parsed defensively.

Answers carry S3's namespace (boto3 and the AWS CLI ignore it, some clients insist on
it). Request bodies (DeleteObjects, CreateBucketConfiguration) are small and bounded
(:data:`MAX_BODY`) and parsed with the standard library, whose expat refuses entity
expansion attacks; anything unreadable is MalformedXML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

from orlop.gateway.s3.errors import S3Error

__all__ = ["MAX_BODY", "NS", "document", "error_document", "iso8601", "parse", "sub"]

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_BODY = 2 << 20  # DeleteObjects of 1,000 keys of 1,024 bytes fits well within


def document(root: str) -> ET.Element:
    return ET.Element(root, xmlns=NS)


def sub(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    child = ET.SubElement(parent, tag)
    if text is not None:
        child.text = "true" if text is True else "false" if text is False else str(text)
    return child


def render(root: ET.Element) -> bytes:
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + text


def error_document(code: str, message: str, resource: str, request_id: str) -> bytes:
    root = ET.Element("Error")
    for tag, text in (
        ("Code", code),
        ("Message", message),
        ("Resource", resource),
        ("RequestId", request_id),
    ):
        sub(root, tag, text)
    return render(root)


def iso8601(ns: int) -> str:
    """S3's timestamp form: ``2026-12-03T10:04:05.123Z``."""
    moment = datetime.fromtimestamp(ns / 1e9, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse(body: bytes, root: str) -> ET.Element:
    """The document's root element (namespace dropped from every tag); MalformedXML unless it is ``root``."""
    try:
        element = ET.fromstring(body)
    except ET.ParseError:
        raise S3Error("MalformedXML", "The XML you provided was not well-formed") from None
    for node in element.iter():
        node.tag = _local(node.tag)
    if element.tag != root:
        raise S3Error("MalformedXML", f"expected a <{root}> document")
    return element
