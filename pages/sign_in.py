"""Sign in."""

from __future__ import annotations

from ui import shell, signin

shell.page("sign_in")
signin.render()
