"""The contract every alignment store keeps, and its one domain error."""

from __future__ import annotations

from typing import Any, Protocol


class StoreUnavailable(Exception):
    """The store's backend is down or failing; the document could not be read or written."""


class AlignmentStore(Protocol):
    """JSON-serializable documents kept under a string id until they expire.

    Synchronous: the service calls it through a thread pool, so implementations are
    thread-safe. ``put`` and ``get`` raise :class:`StoreUnavailable` when the backend fails.
    """

    @property
    def kind(self) -> str:
        """The backend's name: ``"sqlite"`` or ``"redis"``."""
        ...

    def put(self, doc_id: str, document: dict[str, Any]) -> None:
        """Store ``document`` under ``doc_id``, replacing any earlier one."""
        ...

    def get(self, doc_id: str) -> dict[str, Any] | None:
        """The document stored under ``doc_id``, or None if it is unknown or expired."""
        ...

    def ping(self) -> bool:
        """Whether the backend answers; never raises."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
