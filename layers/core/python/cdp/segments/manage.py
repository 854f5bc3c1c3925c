"""Segment definitions stored through the API: create (validated with the shipped library and the other stored
definitions, so a stored segment may build on them), list, show and delete. Light: no pyarrow.

A stored document holds exactly one segment or one tag (with any custom vocabulary it needs); its name is that
definition's name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from cdp.errors import Conflict, Invalid, NotFound
from cdp.segments.definitions import InvalidDefinitions, SegmentDocument, merge_documents

MAX_DOCUMENT_BYTES = 64 * 1024


class DefinitionRepository(Protocol):
    def stored_documents(self) -> list[dict[str, Any]]: ...

    def list(self) -> list[dict[str, Any]]: ...

    def get(self, name: str) -> dict[str, Any] | None: ...

    def create(self, name: str, document: dict[str, Any], at: datetime) -> None:
        """Store it; cdp.errors.Conflict if that name is taken."""
        ...

    def delete(self, name: str) -> bool: ...


def _problems(error: InvalidDefinitions) -> list[dict[str, str]]:
    return [{"field": problem.path, "message": problem.message} for problem in error.problems]


def _defined_name(document: Any) -> str:
    if not isinstance(document, dict):
        raise Invalid("invalid definition", [{"field": "(document)", "message": "a definition document is a JSON object"}])
    definitions = [*(document.get("segments") or []), *(document.get("tags") or [])]
    if len(definitions) != 1 or not isinstance(definitions[0], dict) or not isinstance(definitions[0].get("name"), str):
        raise Invalid("invalid definition", [{"field": "(document)",
                                              "message": "a stored document holds exactly one segment or one tag"}])
    return str(definitions[0]["name"])


def create_definition(store: DefinitionRepository, library: SegmentDocument, document: Any, at: datetime) -> str:
    """Validate the document with everything already defined and store it; answers its name. Invalid names every
    problem by its JSON path in the document; Conflict if the name is defined in the library or stored."""
    name = _defined_name(document)
    if any(definition.name == name for definition in (*library.segments, *library.tags)):
        raise Conflict(f"{name!r} is a shipped definition", [{"field": "segments[0].name", "message": "taken"}])
    known = library
    for stored in store.stored_documents():
        try:
            known = merge_documents(known, stored)
        except InvalidDefinitions:
            continue  # a stored definition the library no longer accepts does not block new ones
    try:
        merge_documents(known, document)
    except InvalidDefinitions as error:
        clash = [p for p in error.problems if p.message.endswith("is defined twice") and name in p.message]
        if clash:
            raise Conflict(f"a definition named {name!r} exists", _problems(error)) from None
        raise Invalid("invalid definition", _problems(error)) from None
    store.create(name, document, at)
    return name


def show_definition(store: DefinitionRepository, name: str) -> dict[str, Any]:
    document = store.get(name)
    if document is None:
        raise NotFound(f"no stored segment definition {name!r}")
    return document


def delete_definition(store: DefinitionRepository, name: str) -> None:
    if not store.delete(name):
        raise NotFound(f"no stored segment definition {name!r}")
