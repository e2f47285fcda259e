"""No network and no needless start-up cost from ESPnet's import chain: ``espnet2.train.
collate_fn`` imports the text front-ends, among them ``g2p_en`` (with ``inflect`` and ``nltk``),
whose import calls ``nltk.download``, and ``tacotron_cleaner`` (``inflect`` again): about 6 s
of every ESPnet process's start. The task layer never uses them, so they are deferred: each is
imported on the first use of one of its attributes (never, here), and ``nltk.download`` is then
a no-op."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
from types import ModuleType

logger = logging.getLogger(__name__)

# package -> the submodules that are imported by name (``import package.sub``)
DEFERRED_MODULES: dict[str, tuple[str, ...]] = {"g2p_en": (), "tacotron_cleaner": ("cleaners",)}


def _no_download(info_or_id=None, *args, **kwargs) -> bool:
    logger.debug("nltk.download(%r) skipped: espnet2_speechprompt runs offline", info_or_id)
    return False


class DeferredModule(ModuleType):
    """Stands in ``sys.modules`` for a module not imported yet: ``import name`` returns it, and
    the first attribute it lacks imports the real module (``load_deferred``) and answers from
    it."""

    def __init__(self, name: str, origin: str | None):
        super().__init__(name, f"{name}, imported on first use (espnet2_speechprompt)")
        self.__spec__ = None  # the import system then treats it as fully initialised
        self.__file__ = origin  # inspect.getmodule reads it from every module

    def __getattr__(self, attr: str):
        return getattr(load_deferred(self.__name__), attr)


def load_deferred(name: str) -> ModuleType:
    """The real module ``name``: its package's stand-ins leave ``sys.modules`` and it is
    imported, with ``nltk.download`` disabled first."""
    top = name.partition(".")[0]
    for key, module in list(sys.modules.items()):
        if (key == top or key.startswith(f"{top}.")) and isinstance(module, DeferredModule):
            del sys.modules[key]
    if "nltk" not in sys.modules and importlib.util.find_spec("nltk") is not None:
        import nltk

        nltk.download = _no_download
    return importlib.import_module(name)


def defer_import(package: str, submodules: tuple[str, ...] = ()) -> None:
    """Stand-ins for ``package`` and its named submodules, if it is installed and not
    imported yet."""
    spec = None if package in sys.modules else importlib.util.find_spec(package)
    if spec is None:
        return
    stand_in = sys.modules[package] = DeferredModule(package, spec.origin)
    for sub in submodules:
        path = os.path.join(os.path.dirname(spec.origin or ""), f"{sub}.py")
        child = DeferredModule(f"{package}.{sub}", path if os.path.isfile(path) else spec.origin)
        sys.modules[child.__name__] = child
        setattr(stand_in, sub, child)  # ``import package.sub`` then ``package.sub.f``


def disable_import_time_downloads() -> None:
    """Defer ``DEFERRED_MODULES`` (and with them ``inflect`` and ``nltk``) and make
    ``nltk.download`` a no-op when they load; if ``nltk`` is already imported, patch it now."""
    for package, submodules in DEFERRED_MODULES.items():
        defer_import(package, submodules)
    if "nltk" in sys.modules:
        sys.modules["nltk"].download = _no_download
