"""No network at run time: ESPnet's import chain (``espnet2.train.collate_fn`` ->
``espnet2.text.phoneme_tokenizer`` -> ``g2p_en``) calls ``nltk.download`` when it is imported.
The task layer never uses those tokenizers, so downloads through nltk are turned off."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def _no_download(info_or_id=None, *args, **kwargs) -> bool:
    logger.debug("nltk.download(%r) skipped: espnet2_speechprompt runs offline", info_or_id)
    return False


def disable_import_time_downloads() -> None:
    """Replace ``nltk.download`` by a no-op (where nltk is installed)."""
    try:
        import nltk
    except ImportError:
        return
    nltk.download = _no_download
