"""The library example in docs/library.md runs, and docs/example.py is it."""

import os
import re
import subprocess
import sys

from .conftest import REPO


def test_library_example_runs(rootfs):
    with open(os.path.join(REPO, "docs", "library.md")) as f:
        code = re.search(r"```python\n(.*?)```", f.read(), re.S).group(1)
    with open(os.path.join(REPO, "docs", "example.py")) as f:
        assert code in f.read(), "docs/example.py must be the example of docs/library.md"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # The container shares the example's stdout: its greeting may land
    # anywhere among the example's lines, or not at all if the kill wins.
    lines = [line for line in r.stdout.splitlines() if line != "hello from libdemo"]
    assert lines == ["created", "running", "[]"]
