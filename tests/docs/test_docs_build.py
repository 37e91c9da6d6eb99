"""The documentation site builds strictly: no broken link, no missing page or figure.

`mkdocs build --strict` turns every warning into a failure, so a page that
links a file that is gone, or a page missing from the navigation, fails here
before it reaches a reader.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

def test_mkdocs_builds_strictly(tmp_path: Path) -> None:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    # The figures under experiments/ travel with the site (docs/hooks.py).
    assert (tmp_path / "site" / "experiments" / "quickstart" / "learning_curves.png").is_file()


def test_readme_links_point_at_files() -> None:
    import re

    readme = (REPO_ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if not t.startswith(("http://", "https://", "mailto:"))]
    missing = [t for t in local if not (REPO_ROOT / t).exists()]
    assert local, "the README links no local page"
    assert not missing, f"README links files that do not exist: {missing}"
