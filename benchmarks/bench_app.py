"""A weight change in the app: re-rank time, and the whole Candidates screen's rerun.

Run: ``python benchmarks/bench_app.py`` (numbers go in benchmarks/README.md).

- re-rank: :func:`geo.rank.rank` on the demo case's cached assessment (what a slider
  change costs the engine), and the plain way for comparison: assessing again from scratch
  (what it would cost without the cache).
- screen: the Candidates screen run by Streamlit's AppTest after a slider change: the
  re-rank, the table, the best-now line and the map of the top candidates, rebuilt.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from geo.demo import AS_OF, build_demo_case
from geo.rank import assess_case, rank
from geo.settings import Policy

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    case = build_demo_case()
    policy = Policy.default()
    a = assess_case(case, policy, as_of=AS_OF)
    weights = [{"threat": w, "school": 1 - w, "support": 0.15} for w in (0.2, 0.5, 0.8)]
    rerank = timed(lambda: [rank(a, weights=w) for w in weights], 10)
    per_rank = [t / len(weights) for t in rerank]
    fresh = timed(lambda: rank(assess_case(case, policy, as_of=AS_OF)), 5)
    print(f"demo case, {len(case['candidates'])} candidates")
    print(f"  re-rank from the cached assessment:  median {statistics.median(per_rank) * 1e3:6.1f}"
          f" ms  (best {min(per_rank) * 1e3:.1f} ms)")
    print(f"  assess and rank from scratch:        median {statistics.median(fresh) * 1e3:6.1f}"
          f" ms  ({statistics.median(fresh) / statistics.median(per_rank):.0f}x)")

    from streamlit.testing.v1 import AppTest

    from geo import auth
    from geo.store import Store

    with tempfile.TemporaryDirectory() as data:
        os.environ["SAFEPLAN_DATA_DIR"] = data
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()  # first start
        with Store(f"sqlite:///{data}/safeplan.db") as store:
            otp = auth.add_user(store, "bench", "analyst", actor="bench",
                                cases=("DEMO-2026-0147",))
            auth.change_password(store, "bench", otp, "timing the screen here")
        at.text_input(key="signin_user").set_value("bench")
        at.text_input(key="signin_password").set_value("timing the screen here")
        at.get("form_submit_button")[0].click()
        at.run()
        at.switch_page("pages/candidates.py").run()
        runs = []
        for value in (0.2, 0.5, 0.8, 0.3, 0.7):
            at.slider(key="cand_w_threat").set_value(value)
            start = time.perf_counter()
            at.run()
            runs.append(time.perf_counter() - start)
            assert not at.exception
    print(f"  Candidates screen rerun after a slider change (AppTest, with its map): median "
          f"{statistics.median(runs) * 1e3:.0f} ms (best {min(runs) * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
