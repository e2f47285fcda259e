"""espnet2_speechprompt: prompting frozen speech language models as an ESPnet2 task."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def read_version():
    """``__version__`` of the package, its one source."""
    text = (HERE / "espnet2_speechprompt" / "__init__.py").read_text(encoding="utf-8")
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def read_requirements(name):
    """Exact pins from tools/<name>, the single source of truth (comments dropped)."""
    lines = (HERE / "tools" / name).read_text(encoding="utf-8").splitlines()
    return [ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()]


setup(
    name="espnet2_speechprompt",
    version=read_version(),
    description="Prompting frozen speech language models (SpeechPrompt) as an ESPnet2 task",
    packages=find_packages(
        include=["espnet2_speechprompt", "espnet2_speechprompt.*"],
        exclude=["test", "test.*", "tests", "tests.*"],
    ),
    python_requires=">=3.11",
    install_requires=read_requirements("requirements.txt"),
    extras_require={"test": read_requirements("requirements-test.txt")},
    include_package_data=True,
)
