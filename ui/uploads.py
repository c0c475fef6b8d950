"""Uploaded files: size-limited, saved under a safe name in a private folder, then read."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geo.errors import InputError
from geo.settings import Settings


def safe_name(name: str) -> str:
    """A file name that cannot leave its folder: no directories, no dots in front, no odd
    characters; the extension is kept (lower case)."""
    base = re.split(r"[\\/]", name or "")[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_.") or "upload"
    ext = re.sub(r"[^A-Za-z0-9]+", "", ext).lower()
    return f"{stem[:80]}.{ext}" if ext else stem[:80]


@contextmanager
def saved_upload(uploaded, settings: Settings) -> Iterator[Path]:
    """Write an uploaded file to a private temporary folder; yield its path; remove it."""
    data = uploaded.getvalue()
    limit = settings.max_upload_mb * 1_048_576
    if len(data) > limit:
        msg = (f"{safe_name(uploaded.name)}: {len(data) / 1_048_576:.1f} MB is over the limit "
               f"of {settings.max_upload_mb:g} MB")
        raise InputError(msg)
    with tempfile.TemporaryDirectory(prefix="safeplan-upload-") as folder:
        path = Path(folder) / safe_name(uploaded.name)
        path.write_bytes(data)
        yield path
