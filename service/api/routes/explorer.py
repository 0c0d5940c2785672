"""The alignment explorer: static files at ``/``, ``/t/{id}`` and ``/static``.

The page calls the same public API as any client; these routes only hand out its files.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent.parent / "static"
PAGE = STATIC_DIR / "index.html"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def explorer() -> FileResponse:
    return FileResponse(PAGE, media_type="text/html")


@router.get("/t/{doc_id}")
async def permalink(doc_id: str) -> FileResponse:
    """A stored translation's page; the script loads GET /v1/translations/{doc_id}."""
    return FileResponse(PAGE, media_type="text/html")


static_files = StaticFiles(directory=STATIC_DIR)
