"""Safe Location Planner engine.

The engine never imports Streamlit: the app, the ``safeplan`` command and the tests all drive
the same functions. Geometry is held in British National Grid (EPSG:27700, metres).
"""

from __future__ import annotations

__version__ = "0.1.0"
