"""Figure 5 at full size on digits: SGD on the linear CNN (9) vs the nuclear-norm program (12),
and SGD on the circular CNN (13) vs the complex lasso (14) ("L1-Convex").

Run:  OMP_NUM_THREADS=1 python examples/linear_cnn_digits.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

from convexnn.experiments import fig5
from convexnn.experiments._common import format_markdown_table


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("fig5_out")
    res = fig5.run(quick=False, out=out, random_state=0)
    res.save(out)
    print(format_markdown_table(res.table))
    print(res.text)
    for name, ok in res.checks.items():
        print(f"[{'ok' if ok else 'FAILED'}] {name}")
    print("figures:", *res.figures)


if __name__ == "__main__":
    main()
