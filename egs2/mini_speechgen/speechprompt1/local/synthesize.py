#!/usr/bin/env python3
"""Synthesize the mini speech generation corpus with espeak-ng: sentences of a small grammar
(the recipe's word lists) spoken by many English voices.

A task sentence (splits ``train``, ``dev``, ``test``) is ``the <adjective> <animal> <its verb>
in the <its place>``: the adjective is free, but every animal has its own verb and place, so
what comes next (continuation) and what fills a gap (inpainting) can be inferred from the rest
of the sentence. The ``pretrain`` split, the backbones' own corpus, holds the same words in
any combination (``the <adjective> <animal> <any verb> in the <any place>``): like a released
backbone, they learn the speech but not the task's structure. Each utterance is one sentence spoken by an espeak-ng English voice (``en-us``
or ``en``, British) with a voice variant, at a speed and pitch drawn from ranges, with a little
silence and faint noise (``espnet2_speechprompt.data.espeak``). Every draw is seeded by
``--seed`` and the utterance, so the corpus is the same whatever ``--nj`` is. Outputs::

    <corpus-dir>/wav/<utt>.wav        16 kHz mono PCM-16
    <corpus-dir>/settings.json        what was synthesized (checked by --check)
    <corpus-dir>/audio.json           what the audio depends on (other values: all redone)
    <data-dir>/{pretrain,train,dev,test}/ wav.scp (absolute paths), text (the sentence),
                                      utt2spk, spk2utt

Utterance ids are ``<speaker>-<split>-<n>``, the speaker ``<voice>+<variant>``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from espnet2_speechprompt.bin.cli_errors import exit_on_user_error
from espnet2_speechprompt.data.espeak import (
    SAMPLE_RATE,
    VARIANTS,
    check_voices,
    degrade,
    render,
    utterance_rng,
)
from espnet2_speechprompt.data.kaldi import Utterance, write_data_dir
from espnet2_speechprompt.fileio import atomic_write_text, directory_lock, write_wav

ADJECTIVES = ("red", "small", "happy", "old", "green", "quiet")
ANIMALS = {  # animal: (its verb, its place)
    "cat": ("sleeps", "kitchen"),
    "dog": ("runs", "garden"),
    "bird": ("sings", "forest"),
    "fish": ("swims", "river"),
    "horse": ("waits", "meadow"),
    "duck": ("paddles", "pond"),
}
VOICES = ("en-us", "en")
SPLITS = {"pretrain": 1200, "train": 600, "dev": 60, "test": 60}
FREE_SPLITS = ("pretrain",)  # the backbones' corpus: any verb and place for any animal
VERBS, PLACES = zip(*ANIMALS.values(), strict=True)


def sentence(rng, free: bool = False) -> str:
    """A task sentence, or with ``free`` the same words in any combination."""
    animal = list(ANIMALS)[int(rng.integers(len(ANIMALS)))]
    verb, place = ANIMALS[animal]
    if free:
        verb, place = VERBS[int(rng.integers(len(VERBS)))], PLACES[int(rng.integers(len(PLACES)))]
    return f"the {ADJECTIVES[int(rng.integers(len(ADJECTIVES)))]} {animal} {verb} in the {place}"


def jobs(seed: int, counts: dict[str, int], variants: int, corpus: Path) -> list[dict]:
    """What to synthesize, every draw seeded by the utterance id."""
    out = []
    for split, count in counts.items():
        for n in range(count):
            picker = utterance_rng(seed, f"{split}-{n}")
            voice = VOICES[int(picker.integers(len(VOICES)))]
            variant = VARIANTS[int(picker.integers(variants))][0]
            speaker = f"{voice}+{variant}"
            utt = f"{speaker}-{split}-{n:04d}"
            out.append(dict(utt=utt, speaker=speaker, split=split, text=sentence(picker, split in FREE_SPLITS),
                            speed=int(picker.integers(140, 191)), pitch=int(picker.integers(30, 71)),
                            path=str((corpus / "wav" / f"{utt}.wav").resolve()), seed=seed))  # fmt: skip
    return out


def synthesize(job: dict) -> None:
    speech = render(job["speaker"], job["speed"], job["pitch"], job["text"])
    rng = utterance_rng(job["seed"] + 1, job["utt"])
    write_wav(job["path"], degrade(speech, rng, (35.0, 45.0), 0.1), SAMPLE_RATE)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus-dir", required=True)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nj", type=int, default=1)
    parser.add_argument("--variants", type=int, default=12, help="voice variants used")
    parser.add_argument("--scale", type=float, default=1.0, help="utterances × this (--debug)")
    parser.add_argument("--check", action="store_true", help="exit 0 if all is there, else 1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    corpus, data = Path(args.corpus_dir), Path(args.data_dir)
    counts = {split: max(4, round(n * args.scale)) for split, n in SPLITS.items()}
    settings = {"seed": args.seed, "counts": counts, "variants": args.variants,
                "words": [list(ADJECTIVES), {a: list(v) for a, v in ANIMALS.items()}]}  # fmt: skip
    todo = jobs(args.seed, counts, args.variants, corpus)
    if args.check:
        done = (corpus / "settings.json").is_file() and json.loads(
            (corpus / "settings.json").read_text()) == settings  # fmt: skip
        done = done and all((data / s / "wav.scp").is_file() for s in counts)
        sys.exit(0 if done and all(Path(j["path"]).is_file() for j in todo) else 1)
    with exit_on_user_error(), directory_lock(corpus, "corpus directory"):
        check_voices(VOICES, [v for v, _ in VARIANTS[: args.variants]], "mini speechgen corpus")
        (corpus / "settings.json").unlink(missing_ok=True)
        corpus.mkdir(parents=True, exist_ok=True)
        audio = {k: settings[k] for k in ("seed", "variants", "words")}  # what a wav depends on
        if not (corpus / "audio.json").is_file() or json.loads(
                (corpus / "audio.json").read_text()) != audio:  # fmt: skip
            shutil.rmtree(corpus / "wav", ignore_errors=True)  # other sentences or voices
            atomic_write_text(corpus / "audio.json", json.dumps(audio, indent=1) + "\n")
        (corpus / "wav").mkdir(parents=True, exist_ok=True)
        missing = [j for j in todo if not Path(j["path"]).is_file()]
        with ProcessPoolExecutor(max(1, args.nj)) as pool:
            list(pool.map(synthesize, missing, chunksize=8))
        for split in counts:
            utts = [Utterance(j["utt"], j["speaker"], j["path"], None, j["text"])
                    for j in todo if j["split"] == split]  # fmt: skip
            write_data_dir(data / split, utts)
            logging.info("%s/%s: %d utterances", data, split, len(utts))
        atomic_write_text(corpus / "settings.json", json.dumps(settings, indent=1) + "\n")


if __name__ == "__main__":
    main()
