"""Build the fictional demo case into this folder (same as ``safeplan demo --out data/demo``)."""

from __future__ import annotations

from pathlib import Path

from geo.demo import write_demo

if __name__ == "__main__":
    print(write_demo(Path(__file__).parent))
