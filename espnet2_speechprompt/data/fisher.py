"""Fisher Spanish -> English speech-to-speech (the textless S2ST setup of Lee et al. 2021).

    python -m espnet2_speechprompt.data.fisher --fisher $FISHER \\
        --translations $FISHER_TRANSLATIONS --data_dir data [--tts_conf conf/tts.yaml]

- ``--fisher``: the dir holding ``LDC2010S01`` (``data/speech/<conversation>.sph``, 8 kHz,
  2 channels) and ``LDC2010T04`` (``fisher_spa_tr/data/transcripts/<conversation>.tdf``:
  3 header lines, then tab-separated ``file channel start end speaker ... transcript(8th)``).
- ``--translations``: the Fisher-CALLHOME Spanish-English translations (LDC2014T23, or the
  ``fisher-callhome-corpus`` repository): ``mapping/fisher_<set>`` (line i: ``<conversation>
  <tdf line numbers joined by _>``, 1-based after the header) and ``corpus/ldc/fisher_<set>.en``
  (train) or ``fisher_<set>.en.{0,1,2,3}`` (dev, dev2, test: four references), line i each.

Sets ``fisher_train``, ``fisher_dev``, ``fisher_dev2``, ``fisher_test``; one utterance per
mapping line (consecutive tdf lines joined), cut from its channel by
``sph2pipe -f wav -p -c <1|2> -t <start>:<end> <sph> |`` (needs sph2pipe). ``text``: the
Spanish transcript; ``tgt_text``: reference 0; ``tgt_text.1``..``tgt_text.3``: the other
references where present. Target speech (``tgt_wav.scp``) is synthesized from ``tgt_text`` by
the TTS of ``--tts_conf`` (espeak-ng by default) unless ``--no_tts``. Speakers: conversation
sides (``<conversation>-A|B``); the sets are conversation-disjoint.
"""

from __future__ import annotations

import logging
import shlex
from pathlib import Path

from .cli import base_parser, run, write_sets
from .kaldi import DataPrepError, Utterance, require_dir, require_file
from .tts import load_command, synthesize_targets

logger = logging.getLogger(__name__)

SETS = ("train", "dev", "dev2", "test")
SPEECH = Path("LDC2010S01/data/speech")
TRANSCRIPTS = Path("LDC2010T04/fisher_spa_tr/data/transcripts")
FISHER_WHERE = "the dir holding LDC2010S01 (Fisher Spanish speech) and LDC2010T04 (transcripts)"
TRANS_WHERE = "the Fisher-CALLHOME translations (LDC2014T23 / fisher-callhome-corpus: mapping/)"


def read_tdf(path: Path) -> list[tuple[int, float, float, str]]:
    """``(channel, start, end, transcript)`` of every tdf line after the 3 header lines."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if number <= 3:
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 8:
                raise DataPrepError(f"{path}:{number}: expected at least 8 tab-separated fields")
            try:
                rows.append((int(fields[1]), float(fields[2]), float(fields[3]), fields[7]))
            except ValueError:
                raise DataPrepError(f"{path}:{number}: bad channel/start/end") from None
    return rows


def read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as f:
        return [line.rstrip("\r\n").replace("\r", "") for line in f]


def references(translations: Path, name: str) -> list[list[str]]:
    """The reference translations of a set: one list per reference, line-aligned."""
    ldc = translations / "corpus" / "ldc"
    single = ldc / f"fisher_{name}.en"
    if single.is_file():
        return [read_lines(single)]
    multi = [ldc / f"fisher_{name}.en.{k}" for k in range(4)]
    if not multi[0].is_file():
        raise DataPrepError(
            f"{single}: no such file (nor {multi[0].name}); check FISHER_TRANSLATIONS"
        )
    return [read_lines(p) for p in multi if p.is_file()]


def prepare_set(fisher: Path, translations: Path, name: str) -> list[Utterance]:
    mapping = read_lines(
        require_file(translations / "mapping" / f"fisher_{name}", "FISHER_TRANSLATIONS", "mapping")
    )
    refs = references(translations, name)
    for k, ref in enumerate(refs):
        if len(ref) != len(mapping):
            raise DataPrepError(
                f"fisher_{name}: {len(mapping)} mapping lines but {len(ref)} lines in reference {k}"
            )
    tdfs: dict[str, list] = {}
    utts = []
    for number, line in enumerate(mapping):
        fields = line.split()
        if len(fields) != 2:
            raise DataPrepError(f"mapping/fisher_{name}:{number + 1}: expected '<conv> <n_n...>'")
        conv, ids = fields[0], [int(i) for i in fields[1].split("_")]
        if conv not in tdfs:
            tdf = require_file(fisher / TRANSCRIPTS / f"{conv}.tdf", "FISHER", "a transcript")
            tdfs[conv] = read_tdf(tdf)
        rows = tdfs[conv]
        if not 1 <= min(ids) <= max(ids) <= len(rows):
            raise DataPrepError(f"mapping/fisher_{name}:{number + 1}: line ids beyond {conv}.tdf")
        parts = [rows[i - 1] for i in ids]
        channel, start, end = parts[0][0], parts[0][1], parts[-1][2]
        sph = require_file(fisher / SPEECH / f"{conv}.sph", "FISHER", "the speech of a transcript")
        side = "B" if channel == 1 else "A"
        speaker = f"{conv}-{side}"
        extra = {"tgt_text": refs[0][number]}
        for k in range(1, len(refs)):
            extra[f"tgt_text.{k}"] = refs[k][number]
        for key, value in extra.items():
            if not value.strip():
                extra[key] = "<empty>"
                logger.warning("fisher_%s line %d: empty %s", name, number + 1, key)
        cut = f"{start:.2f}:{end:.2f}"
        utts.append(
            Utterance(
                utt=f"{speaker}-{round(start * 100):06d}-{round(end * 100):06d}",
                speaker=speaker,
                audio=f"sph2pipe -f wav -p -c {channel + 1} -t {cut} {shlex.quote(str(sph))} |",
                text=" ".join(p[3] for p in parts),
                extra=extra,
            )
        )
    return utts


def prepare(fisher: Path, translations: Path, sets: list[str]) -> dict[str, list[Utterance]]:
    for sub in (SPEECH, TRANSCRIPTS):
        if not (fisher / sub).is_dir():
            raise DataPrepError(f"{fisher / sub}: no such dir; FISHER must be {FISHER_WHERE}")
    return {f"fisher_{name}": prepare_set(fisher, translations, name) for name in sets}


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__name__, __doc__.splitlines()[0])
    parser.add_argument("--fisher", required=True, help="holds LDC2010S01 and LDC2010T04")
    parser.add_argument("--translations", required=True, help="fisher-callhome-corpus dir")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--tts_conf", default=None, help="yaml with the TTS 'command'")
    parser.add_argument("--no_tts", action="store_true", help="no target speech synthesis")
    parser.add_argument("--nj", type=int, default=1, help="parallel TTS processes")
    args = parser.parse_args(argv)
    fisher = require_dir(args.fisher, "FISHER", FISHER_WHERE)
    translations = require_dir(args.translations, "FISHER_TRANSLATIONS", TRANS_WHERE)
    sets = prepare(fisher, translations, args.sets)
    if not args.no_tts:
        command = load_command(args.tts_conf)
        for name, utts in sets.items():
            out = Path(args.data_dir) / "local" / "tgt_wav" / name
            logger.info(
                "synthesizing %d target utterances of %s with %s", len(utts), name, command[0]
            )
            synthesize_targets(utts, out, command, nj=args.nj)
    write_sets(sets, args, f"fisher_{args.sets[0]}", class_of=lambda u: "all")


if __name__ == "__main__":
    run(main)
