"""BLAS set-up shared by the benchmarks: import this module BEFORE numpy.

:func:`pin` fixes the BLAS thread counts (unless set in the environment) and, on x86
Linux, OpenBLAS's kernel: the OpenBLAS in numpy 1.26's wheels (0.3.23, the bench
environment's: adelie pins numpy<2) does not know recent Xeons that report only
"Intel(R) Xeon(R) Processor" and falls back to its generic "Prescott" (SSE3) kernels.
On the development machine that made every GEMM 2-3x slower than numpy 2's OpenBLAS
(0.3.31, "SkylakeX") on the same CPU, and skewed every ratio between GEMM-bound and
other code (stop 22 of BENCHMARKS.md). Unless ``OPENBLAS_CORETYPE`` is set, it is set
from the CPU's flags: "SkylakeX" with AVX-512, "Haswell" with AVX2 (the kernels
OpenBLAS picks itself where it knows the CPU). :func:`describe` names what was loaded.
"""

from __future__ import annotations

import os


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def pin(threads: str) -> None:
    """Set the BLAS thread counts to ``threads`` and the OpenBLAS kernel, unless set."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, threads)
    flags = _cpu_flags()
    if "avx512f" in flags:
        os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
    elif "avx2" in flags:
        os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")


def describe() -> str:
    """``"openblas 0.3.23.dev (kernel SkylakeX)"`` for each BLAS numpy loaded."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS unknown (no threadpoolctl)"
    parts = [
        f"{p.get('internal_api')} {p.get('version')} (kernel {p.get('architecture', '?')})"
        for p in threadpool_info()
        if p.get("user_api") == "blas"
    ]
    return ", ".join(parts) or "BLAS unknown"


def machine() -> str:
    """One line for a benchmark's header: platform, cores, numpy, BLAS threads and
    kernels, load average."""
    import platform

    import numpy as np

    return (
        f"machine: {platform.platform()}, {os.cpu_count()} cores, numpy {np.__version__}, "
        f"BLAS threads {os.environ.get('OMP_NUM_THREADS')}, {describe()}, load average at "
        f"start {os.getloadavg()[0]:.1f}"
    )
