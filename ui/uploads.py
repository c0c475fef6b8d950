"""Uploaded files: size-limited, saved under a safe name in a private folder, then read."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geo.errors import InputError
from geo.io import safe_filename as safe_name
from geo.settings import Settings


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
