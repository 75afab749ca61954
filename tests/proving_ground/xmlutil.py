"""Small edits to moto's XML answers without losing their namespace."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Callable, Iterator, Optional


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def find_all(element: ET.Element, name: str) -> Iterator[ET.Element]:
    for child in element.iter():
        if local(child.tag) == name:
            yield child


def child(element: ET.Element, name: str) -> Optional[ET.Element]:
    for sub in element:
        if local(sub.tag) == name:
            return sub
    return None


def child_text(element: ET.Element, name: str) -> Optional[str]:
    sub = child(element, name)
    return sub.text if sub is not None else None


def edit(body: bytes, change: Callable[[ET.Element], bool]) -> bytes:
    """Apply change(root) and return the new document, or the old bytes when nothing changed."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return body
    if not change(root):
        return body
    if root.tag.startswith("{"):
        ET.register_namespace("", root.tag[1:].split("}", 1)[0])
    return ET.tostring(root, encoding="utf-8", xml_declaration=False)


def text(body: bytes, name: str) -> Optional[str]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    for element in find_all(root, name):
        return element.text
    return None
