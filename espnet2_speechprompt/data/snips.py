"""Audio SNIPS as used by SUPERB slot filling (SF): slot-tagged character transcripts.

    python -m espnet2_speechprompt.data.snips --root $SNIPS --data_dir data

(Not the SNIPS SmartLights corpus of ESPnet's egs2/snips.) ``--root``: the ``SNIPS`` dir of
Audio SNIPS (``audio_slu_v3``), or the dir holding it: ``all.iob.snips.txt`` and
``{train,valid,test}/<Voice>-snips-<subset>-<n>.{wav,flac,mp3}``. An ``all.iob.snips.txt``
line is ``<file stem> BOS w1 .. wn EOS<TAB>O t1 .. tn <intent>``, ``t`` being ``O`` or a slot
name (``B-``/``I-`` prefixes are accepted too).

Sets follow SUPERB's speaker split of the synthetic voices: ``train`` = Ivy, Joanna, Joey,
Justin, Kendra, Kimberly, Matthew, Salli (US); ``valid`` = Aditi, Amy, Geraint, Nicole;
``test`` = Brian, Emma, Raveena, Russell (each from its own subset dir).

``label`` (SUPERB "character-slot" target): the upper-case transcript with ``B-<slot>`` before
and ``E-<slot>`` after every slot value, as characters with ``|`` between words, tags as
whole tokens (``PLAY B-artist | A B B A | E-artist``). Punctuation-only words are dropped,
``&`` becomes ``AND``, other characters outside A-Z and ``'`` are dropped (SUPERB maps them
to an unknown token). ``text``: the same transcript without tags. Few-shot classes: intents.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from .cli import base_parser, run, write_sets
from .kaldi import (
    DataPrepError,
    Utterance,
    audio_entry,
    require_dir,
    require_file,
    to_char_label,
    warn_speaker_overlap,
)

logger = logging.getLogger(__name__)

SPEAKERS = {
    "train": ("Ivy", "Joanna", "Joey", "Justin", "Kendra", "Kimberly", "Matthew", "Salli"),
    "valid": ("Aditi", "Amy", "Geraint", "Nicole"),
    "test": ("Brian", "Emma", "Raveena", "Russell"),
}
TRANSCRIPTS = "all.iob.snips.txt"
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3")
PUNCTUATION = set("?!.,;-")
_NOT_CHAR = re.compile(r"[^A-Z']")
WHERE = "the SNIPS dir of Audio SNIPS (audio_slu_v3; SUPERB SF), holding all.iob.snips.txt"


def parse_iob_line(line: str) -> tuple[str, list[str], list[str], str]:
    """``(stem, words, tags, intent)`` of an ``all.iob.snips.txt`` line."""
    text, sep, iob = line.rstrip("\n").partition("\t")
    if not sep:
        raise ValueError("no tab between the transcript and the tags")
    fields = text.split()
    tags = iob.split()
    if len(fields) < 3 or fields[1] != "BOS" or fields[-1] != "EOS":
        raise ValueError("expected '<id> BOS words EOS'")
    words = fields[2:-1]
    if len(tags) != len(words) + 2:
        raise ValueError(f"{len(words)} words but {len(tags) - 2} tags")
    return fields[0], words, tags[1:-1], tags[-1]


def normalize_word(word: str) -> str:
    word = "AND" if word == "&" else word.upper()
    return _NOT_CHAR.sub("", word)


def tag_words(words: list[str], tags: list[str]) -> list[str]:
    """Words with ``B-<slot>`` / ``E-<slot>`` around each slot value (a run of one slot)."""
    out: list[str] = []
    open_slot: str | None = None
    kept = [
        (normalize_word(w), t) for w, t in zip(words, tags, strict=True) if w not in PUNCTUATION
    ]
    kept = [(w, t) for w, t in kept if w]
    for i, (word, tag) in enumerate(kept):
        begins = tag.startswith("B-")
        slot = None if tag == "O" else re.sub(r"^[BI]-", "", tag)
        if open_slot is not None and (slot != open_slot or begins):
            out.append(f"E-{open_slot}")
            open_slot = None
        if slot is not None and open_slot is None:
            out.append(f"B-{slot}")
            open_slot = slot
        out.append(word)
        if i == len(kept) - 1 and open_slot is not None:
            out.append(f"E-{open_slot}")
    return out


def read_transcripts(path: Path) -> dict[str, tuple[list[str], str]]:
    """``stem -> (tagged words, intent)``."""
    table = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                stem, words, tags, intent = parse_iob_line(line)
            except ValueError as exc:
                raise DataPrepError(f"{path}:{number}: {exc}") from None
            table[stem] = (tag_words(words, tags), intent)
    return table


def find_root(root: Path) -> Path:
    return root / "SNIPS" if (root / "SNIPS" / TRANSCRIPTS).is_file() else root


def prepare(root: Path, mp3_pipe: bool = False) -> dict[str, list[Utterance]]:
    root = find_root(root)
    table = read_transcripts(require_file(root / TRANSCRIPTS, "SNIPS", "the slot transcripts"))
    sets: dict[str, list[Utterance]] = {}
    for subset, voices in SPEAKERS.items():
        subset_dir = root / subset
        if not subset_dir.is_dir():
            raise DataPrepError(f"{subset_dir}: no such dir; is SNIPS in db.sh right?")
        utts = []
        for audio in sorted(subset_dir.iterdir()):
            if audio.suffix.lower() not in AUDIO_EXTENSIONS:
                continue
            voice = audio.name.split("-")[0]
            if voice not in voices:
                continue
            stem = audio.stem
            key = stem if stem in table else stem[len(voice) + 1 :]
            if key not in table:
                raise DataPrepError(f"{audio}: no line for {stem} in {TRANSCRIPTS}")
            tagged, intent = table[key]
            tags = {w for w in tagged if w.startswith(("B-", "E-"))}
            plain = " ".join(w for w in tagged if w not in tags)
            utts.append(
                Utterance(
                    utt=stem,
                    speaker=voice,
                    audio=audio_entry(audio.resolve(), mp3_pipe),
                    label=to_char_label(" ".join(tagged), keep=tags),
                    text=plain,
                    extra={"intent": intent},
                )
            )
        if not utts:
            raise DataPrepError(f"{subset_dir}: no audio of the voices {', '.join(voices)}")
        sets[subset] = utts
    warn_speaker_overlap(sets)
    return sets


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__name__, __doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="Audio SNIPS's SNIPS dir")
    parser.add_argument("--mp3_pipe", action="store_true", help="decode mp3 with ffmpeg pipes")
    args = parser.parse_args(argv)
    sets = prepare(require_dir(args.root, "SNIPS", WHERE), args.mp3_pipe)
    write_sets(sets, args, "train", class_of=lambda u: u.extra["intent"])


if __name__ == "__main__":
    run(main)
