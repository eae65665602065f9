"""The cost of detecting bf16 instructions in a new process: importing the check, then its first call.

Printed for ``bench_bf16.py`` as seconds, after ``import skcatdog`` (which every user pays anyway).
"""

import time

from _common import child_result

import skcatdog  # noqa: F401  (paid by every program: not part of the timing)

t = time.perf_counter()
from skcatdog._cpu import cpu_has_bf16  # noqa: E402

t1 = time.perf_counter()
cpu_has_bf16()
t2 = time.perf_counter()
child_result({"import": t1 - t, "first_call": t2 - t1})
