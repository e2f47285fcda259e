"""CoVoST 2 Spanish -> English speech-to-speech: Common Voice Spanish source clips, CVSS English
target speech.

    python -m espnet2_speechprompt.data.covost2 --commonvoice $COMMONVOICE --covost $COVOST2 \\
        --cvss $CVSS --data_dir data

- ``--commonvoice``: Common Voice Spanish (version 4, as CoVoST 2 uses): ``clips/*.mp3`` and
  ``validated.tsv`` (``client_id path sentence ...``).
- ``--covost``: the dir holding ``covost_v2.es_en.tsv`` (columns ``path``, ``translation``,
  ``split`` (``train``, ``dev``, ``test``; ``train_covost`` counts as train), and optionally
  ``sentence``, ``client_id``).
- ``--cvss``: CVSS-C or CVSS-T ``es_en`` release: ``{train,dev,test}.tsv`` (``<clip>.mp3<TAB>
  <English text>``, no header) and ``{train,dev,test}/<clip>.mp3.wav`` (English speech).

Sets ``train``, ``dev``, ``test``: the clips of the CoVoST 2 split that CVSS has a target for.
Files: ``wav.scp`` (source mp3; soundfile reads mp3, ``--mp3_pipe`` decodes with ffmpeg),
``tgt_wav.scp`` (target speech), ``text`` (Spanish transcript), ``tgt_text`` (the English
reference: CVSS's text). ``label`` (target units) is written by a later stage. Speakers:
Common Voice client ids (first 16 hex digits). Few-shot: N utterances (no classes).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from .cli import base_parser, run, write_sets
from .kaldi import (
    DataPrepError,
    Utterance,
    audio_entry,
    require_dir,
    require_file,
    safe_id,
    warn_speaker_overlap,
)

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
COVOST_TSV = "covost_v2.es_en.tsv"
CV_WHERE = "Common Voice Spanish v4 (the dir with clips/ and validated.tsv)"
COVOST_WHERE = f"the dir holding {COVOST_TSV} (github.com/facebookresearch/covost)"
CVSS_WHERE = "the CVSS es_en release (train.tsv, train/<clip>.mp3.wav, ...)"


def read_tsv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a tab-separated file with a header (no quoting, as the releases are written)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise DataPrepError(f"{path}: no column(s) {', '.join(missing)}")
        return list(reader)


def read_cvss(cvss: Path, split: str) -> dict[str, str]:
    """``clip -> English text`` of a CVSS split (``<clip><TAB><text>`` lines)."""
    path = require_file(cvss / f"{split}.tsv", "CVSS", "the CVSS split list")
    table = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            clip, sep, text = line.rstrip("\n").partition("\t")
            if not sep:
                raise DataPrepError(f"{path}:{number}: expected '<clip><TAB><text>'")
            table[clip] = text
    return table


def prepare(
    commonvoice: Path, covost: Path, cvss: Path, mp3_pipe: bool = False
) -> dict[str, list[Utterance]]:
    rows = read_tsv(
        require_file(covost / COVOST_TSV, "COVOST2", "the CoVoST 2 Es-En list"),
        ("path", "translation", "split"),
    )
    validated = {}
    if (commonvoice / "validated.tsv").is_file():
        for row in read_tsv(commonvoice / "validated.tsv", ("client_id", "path", "sentence")):
            validated[row["path"]] = row
    clips = commonvoice / "clips"
    if not clips.is_dir():
        raise DataPrepError(f"{clips}: no such dir; COMMONVOICE must hold clips/ (Spanish)")
    sets: dict[str, list[Utterance]] = {split: [] for split in SPLITS}
    targets = {split: read_cvss(cvss, split) for split in SPLITS}
    dropped = 0
    for row in rows:
        split = row["split"].removesuffix("_covost")
        if split not in sets:
            continue
        clip = row["path"]
        if clip not in targets[split]:
            dropped += 1
            continue
        source = clips / clip
        target = cvss / split / f"{clip}.wav"
        for path in (source, target):
            if not path.is_file():
                raise DataPrepError(f"audio file not found: {path} (clip {clip}, {split})")
        info = validated.get(clip, {})
        client = row.get("client_id") or info.get("client_id")
        sentence = row.get("sentence") or info.get("sentence")
        if not client or sentence is None:
            raise DataPrepError(
                f"clip {clip}: no client_id/sentence in {COVOST_TSV} or {commonvoice}/validated.tsv"
            )
        speaker = safe_id(client[:16])
        sets[split].append(
            Utterance(
                utt=f"{speaker}-{safe_id(Path(clip).stem)}",
                speaker=speaker,
                audio=audio_entry(source.resolve(), mp3_pipe),
                text=sentence,
                extra={"tgt_wav.scp": str(target.resolve()), "tgt_text": targets[split][clip]},
            )
        )
    if dropped:
        logger.info("%d CoVoST 2 clips have no CVSS target and are left out", dropped)
    warn_speaker_overlap(sets)
    return sets


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__name__, __doc__.splitlines()[0])
    parser.add_argument("--commonvoice", required=True, help="Common Voice Spanish (v4)")
    parser.add_argument("--covost", required=True, help=f"the dir holding {COVOST_TSV}")
    parser.add_argument("--cvss", required=True, help="CVSS es_en (C or T)")
    parser.add_argument("--mp3_pipe", action="store_true", help="decode mp3 with ffmpeg pipes")
    args = parser.parse_args(argv)
    sets = prepare(
        require_dir(args.commonvoice, "COMMONVOICE", CV_WHERE),
        require_dir(args.covost, "COVOST2", COVOST_WHERE),
        require_dir(args.cvss, "CVSS", CVSS_WHERE),
        args.mp3_pipe,
    )
    write_sets(sets, args, "train", class_of=lambda u: "all")


if __name__ == "__main__":
    run(main)
