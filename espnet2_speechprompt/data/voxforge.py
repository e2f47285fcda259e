"""VoxForge language identification, 6 languages (de, en, es, fr, it, ru), as SpeechPrompt v2.

    python -m espnet2_speechprompt.data.voxforge --root $VOXFORGE --data_dir data \\
        [--task voxforge_lid] [--per_language 1200 300 300] [--split_seed 0]

``--root``: the archives of ``voxforge_urls.txt`` (the TensorFlow Datasets list) fetched with
``wget -i voxforge_urls.txt -x`` and extracted where they lie:
``www.repository.voxforge1.org/downloads/<lang>/Trunk/Audio/Main/16kHz_16bit/<archive>.tgz`` ->
``.../16kHz_16bit/<archive>/wav/*.wav`` (some archives hold ``flac/*.flac``, also read).
``--root`` may be the dir holding ``www.repository.voxforge1.org``, that dir, or its
``downloads``. ``label``: the language code.

Split (per language): the archives shuffled with ``--split_seed``; test, then valid, then train
take whole archives until they hold their quota (default 1,200 / 300 / 300 utterances per
language, SpeechPrompt v2's numbers; the last archive taken is cut). Archives of one named
user stay in one set; each ``anonymous`` archive is its own group. Speaker id: the archive.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

from .cli import base_parser, run
from .kaldi import DataPrepError, Utterance, ascii_id, audio_entry, require_dir
from .tasklist import add_task_argument, write_task

logger = logging.getLogger(__name__)

LANGUAGES = ("de", "en", "es", "fr", "it", "ru")
HOST = "www.repository.voxforge1.org"
AUDIO_PATH = ("Trunk", "Audio", "Main", "16kHz_16bit")
VARIABLE = "VOXFORGE"
URLS = "https://storage.googleapis.com/tfds-data/downloads/voxforge/voxforge_urls.txt"
SPLIT_ORDER = ("test", "valid", "train")


def downloads_dir(root: Path) -> Path:
    for candidate in (root / HOST / "downloads", root / "downloads", root):
        if all((candidate / lang).is_dir() for lang in LANGUAGES):
            return candidate
    raise DataPrepError(
        f"{root}: no downloads/{{{','.join(LANGUAGES)}}} dirs; {VARIABLE} must hold the "
        f"archives of {URLS} fetched with 'wget -i voxforge_urls.txt -x' (and extracted)"
    )


def archives(downloads: Path, lang: str) -> list[Path]:
    """The extracted archive dirs of one language (sorted)."""
    base = downloads.joinpath(lang, *AUDIO_PATH)
    if not base.is_dir():
        raise DataPrepError(f"{base}: no such dir; is {VARIABLE} in db.sh right?")
    found = sorted(p for p in base.iterdir() if p.is_dir())
    if not found:
        packed = next(base.glob("*.tgz"), None)
        hint = (
            f"; extract the archives where they lie (tar -xzf {packed.name} ...)" if packed else ""
        )
        raise DataPrepError(f"{base}: no extracted archive dirs{hint}")
    return found


def archive_utterances(archive: Path, lang: str) -> list[Utterance]:
    speaker = f"{lang}_{ascii_id(archive.name)}"
    files = sorted((archive / "wav").glob("*.wav")) + sorted((archive / "flac").glob("*.flac"))
    return [
        Utterance(f"{speaker}-{ascii_id(f.stem)}", speaker, audio_entry(f.resolve()), label=lang)
        for f in files
    ]


def user_groups(dirs: list[Path], seed: int) -> list[list[Path]]:
    """Archives grouped by user (``<user>-<date>-<code>``; ``anonymous`` ones alone), the
    groups in an order shuffled with ``seed``."""
    groups: dict[str, list[Path]] = {}
    for archive in dirs:
        user = archive.name.split("-")[0]
        key = archive.name if user.lower() == "anonymous" else user
        groups.setdefault(key, []).append(archive)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    return [groups[k] for k in keys]


def split_language(
    downloads: Path, lang: str, quotas: dict[str, int], seed: int
) -> dict[str, list[Utterance]]:
    sets: dict[str, list[Utterance]] = {split: [] for split in SPLIT_ORDER}
    groups = iter(user_groups(archives(downloads, lang), seed))
    for split in SPLIT_ORDER:
        while len(sets[split]) < quotas[split]:
            group = next(groups, None)
            if group is None:
                logger.warning("%s: %d of %d %s utterances (corpus exhausted)", lang,
                               len(sets[split]), quotas[split], split)  # fmt: skip
                break
            for archive in group:
                sets[split] += archive_utterances(archive, lang)
        del sets[split][quotas[split] :]
    return sets


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__name__, __doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the fetched VoxForge archives")
    parser.add_argument("--per_language", type=int, nargs=3, default=[1200, 300, 300],
                        metavar=("TRAIN", "VALID", "TEST"),
                        help="utterances per language")  # fmt: skip
    parser.add_argument("--split_seed", type=int, default=0, help="seed of the archive order")
    add_task_argument(parser, "voxforge_lid")
    args = parser.parse_args(argv)
    if min(args.per_language) < 1:
        raise DataPrepError(f"--per_language must be positive (got {args.per_language})")
    downloads = downloads_dir(require_dir(args.root, VARIABLE, f"the archives of {URLS}"))
    quotas = dict(zip(("train", "valid", "test"), args.per_language, strict=True))
    sets: dict[str, list[Utterance]] = {"train": [], "valid": [], "test": []}
    for lang in LANGUAGES:
        for split, utts in split_language(downloads, lang, quotas, args.split_seed).items():
            sets[split] += utts
    write_task(sets, args, family="lid", language="mul")


if __name__ == "__main__":
    run(main)
