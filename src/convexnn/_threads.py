"""BLAS threads around small dense factorisations.

OpenBLAS threads its Cholesky factorisation (``dpotrf``) at every size. On the Newton
systems of the relu polish (a few hundred free dimensions, one factorisation per step)
that cost more than it saved: at n = 1e4, d = 41, P = 2000 with two BLAS threads (the
default on a 2-core machine) each factorisation took 9 ms instead of under 1 ms, and the
relu solve 30-31 s against 22-24 s with one thread. A 235 x 235 factorisation alone takes
0.87 ms on two threads and 0.41 ms on one; from about 1000 dimensions threads pay again
(1200: 19 ms against 23 ms), a size these systems rarely reach.

As in scikit-learn's uses of threadpoolctl, the limit is the library's, for the process:
while a factorisation runs inside it, BLAS calls from other Python threads run on one
thread too. Leaving restores the count found on entering.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

_controller: Any = None


def one_blas_thread() -> AbstractContextManager[Any]:
    """Context in which the BLAS libraries (OpenBLAS, MKL, ...) run on one thread.

    About 17 us to enter and leave (the libraries are looked up once, on first use).
    """
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
