"""One family of errors whose messages are safe to show a user.

Pages catch :class:`GeoError` and show ``str(e)``; the command turns it into one line on
stderr and exit code 2. Anything else is a bug and must surface.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


class GeoError(Exception):
    """Base class: the message is written for the user and names what was wrong."""


class InputError(GeoError, ValueError):
    """A file, argument or value given by the user cannot be used."""


class PostcodeError(InputError):
    """Postcodes that are malformed or not in Code-Point Open.

    ``problems`` holds ``(row, postcode, reason)`` for each bad one; rows are 1-based as a
    spreadsheet shows them (the header is row 1), or positions in the argument list.
    """

    def __init__(self, message: str, problems: Sequence[tuple[int, str, str]] = ()):
        super().__init__(message)
        self.problems = list(problems)


class PolicyError(InputError):
    """A risk-policy key is unknown or a value is out of range."""


class AccessDenied(GeoError, PermissionError):
    """The signed-in user may not see or change this."""


class ConflictError(GeoError):
    """A save was based on an older version of the case; nothing was written."""


class NotFound(GeoError, LookupError):
    """A case, layer, row or file that was asked for does not exist."""


class StoreError(GeoError):
    """The database cannot be used: unreachable, busy, or its schema needs an upgrade."""


@dataclass(frozen=True)
class Problem:
    """One validation finding: where it is and what is wrong, in words."""

    severity: Severity
    layer: str
    row: str
    column: str
    message: str

    def __str__(self) -> str:
        where = self.layer
        if self.row:
            where += f" {self.row}"
        if self.column:
            where += f" [{self.column}]"
        return f"{self.severity}: {where}: {self.message}"


class ValidationError(InputError):
    """Fatal problems in a case or an import; ``problems`` lists every one of them."""

    def __init__(self, problems: Iterable[Problem], *, source: str = ""):
        self.problems = list(problems)
        fatal = [p for p in self.problems if p.severity == "error"]
        head = f"{source}: " if source else ""
        first = str(fatal[0]) if fatal else "no details"
        more = f" (and {len(fatal) - 1} more)" if len(fatal) > 1 else ""
        super().__init__(f"{head}{first}{more}")
