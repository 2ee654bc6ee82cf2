"""backends.host_memory: freed buffers stay in the heap for the next step (glibc only)."""
import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator settings")

# Allocate, touch and free a 20 MB array twice; print the page faults of the second
# allocation, after importing the NumPy kernels or not.
PROBE = """
import json, resource, sys
import numpy as np
np._core.multiarray._set_madvise_hugepage(False)  # count 4 KB pages, whatever the kernel's THP setting
if sys.argv[1] == "nyang":
    import backends.numpy_kernels
    from backends.host_memory import keep_freed_memory
    kept = keep_freed_memory()
else:
    kept = None
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
np.ones(5 << 20, dtype=np.float32)  # 20 MB, touched, then freed
before = faults()
np.ones(5 << 20, dtype=np.float32)
print(json.dumps({"kept": kept, "faults": faults() - before}))
"""


def _probe(mode, **env):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         cwd=root, env={**clean, **env, "PYTHONPATH": root})
    return json.loads(out.stdout)


def test_the_second_allocation_reuses_the_freed_pages():
    glibc_default = _probe("plain")
    kept = _probe("nyang")
    assert kept["kept"] is True
    pages = (20 << 20) // 4096
    assert glibc_default["faults"] > pages // 4  # the 20 MB came back from the kernel, page by page
    assert kept["faults"] < pages // 50  # the same pages again


def test_the_users_malloc_settings_win():
    chosen = _probe("nyang", MALLOC_TRIM_THRESHOLD_="131072")
    assert chosen["kept"] is False
    assert chosen["faults"] > (20 << 20) // 4096 // 4
