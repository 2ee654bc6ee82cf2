"""The README's self-contained Python examples (blocks starting with ``import nyang``) run."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_python_blocks_run(tmp_path):
    text = open(os.path.join(ROOT, "README.md")).read()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if b.startswith("import nyang")]
    assert len(blocks) >= 3
    for block in blocks:
        result = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, f"README block failed:\n{block}\n{result.stderr[-2000:]}"
