"""A recipe dir copied for a test run: run.sh, cmd.sh, conf/ and local/ copied, the template's
scripts linked (absolute links), so its outputs go under the test's tmp dir."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

LINKED = ("speechprompt.sh", "icl.sh", "utils", "path.sh", "db.sh")


def copy_recipe(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for name in ("run.sh", "cmd.sh"):
        shutil.copy2(source / name, target / name)
    for name in ("conf", "local"):
        shutil.copytree(source / name, target / name)
    for name in LINKED:
        if (source / name).exists():
            os.symlink((source / name).resolve(), target / name)
    return target
