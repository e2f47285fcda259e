#!/usr/bin/env python3
r"""A page to listen to the generated speech: a unit codebook vocoder learnt from training audio
(``espnet2_speechprompt.vocoder.codebook``: mean log-mel frame per MFCC k-means unit,
Griffin-Lim), then for a few test utterances of each task the input, the generated and the
reference units as audio, with the recording itself, in ``<output_dir>/index.html``.

    local/listen.py --kmeans exp/kmeans/km.npy --train_wav_scp dump/x/raw/train/wav.scp \
        --test_wav_scp dump/x/raw/test/wav.scp --output_dir exp/listen \
        --task inpainting dump/x/units/test/speechgen/source exp/<exp>/<decode>/test/text \
        dump/x/units/test/label [--task ...]
"""

from __future__ import annotations

import argparse
import html
import os
import shutil
from pathlib import Path

import torch

from espnet2_speechprompt.bin.cli_errors import exit_on_user_error
from espnet2_speechprompt.fileio import atomic_directory, write_wav
from espnet2_speechprompt.units.audio import read_audio, read_wav_scp
from espnet2_speechprompt.units.datadir import read_units
from espnet2_speechprompt.units.extractor import UnitExtractor
from espnet2_speechprompt.vocoder.codebook import SAMPLE_RATE, UnitCodebook

KINDS = ("input", "generated", "reference")


def learn_codebook(args: argparse.Namespace) -> UnitCodebook:
    extractor = UnitExtractor(args.kmeans, feature="mfcc", dedup=False)
    pairs = []
    for utt, entry in read_wav_scp(args.train_wav_scp)[: args.num_train]:
        samples, rate = read_audio(utt, entry)
        wav = torch.from_numpy(samples).float().reshape(len(samples), -1).mean(1)
        pairs.append((wav, extractor(wav, rate, utt)))
    return UnitCodebook.learn(pairs, extractor.quantizer.centres.shape[0])


def write_task(book, task, files, recordings, out: Path, count: int) -> list[str]:
    """The task's rows of the page; its wav files under ``out/<task>/``."""
    tables = [dict(read_units(path)) for path in files]
    rows = []
    for utt in sorted(tables[1])[:count]:
        cells = [f"<td>{html.escape(utt)}</td>"]
        for kind, table in zip(KINDS, tables, strict=True):
            name = f"{task}/{utt}_{kind}.wav"
            write_wav(out / name, book.synthesize(table.get(utt, [])).numpy(), SAMPLE_RATE)
            cells.append(f'<td><audio controls src="{html.escape(name)}"></audio></td>')
        recording = f"{task}/{utt}_recording.wav"
        shutil.copyfile(recordings[utt], out / recording)
        cells.append(f'<td><audio controls src="{html.escape(recording)}"></audio></td>')
        rows.append(f"<tr><td>{html.escape(task)}</td>{''.join(cells)}</tr>")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kmeans", required=True)
    parser.add_argument("--train_wav_scp", required=True)
    parser.add_argument("--test_wav_scp", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--num_train", type=int, default=150, help="utterances to learn from")
    parser.add_argument("--num_samples", type=int, default=4, help="utterances per task")
    parser.add_argument("--task", nargs=4, action="append", required=True,
                        metavar=("NAME", "INPUT", "GENERATED", "REFERENCE"))  # fmt: skip
    args = parser.parse_args(argv)
    with exit_on_user_error():
        book = learn_codebook(args)
        recordings = {utt: entry for utt, entry in read_wav_scp(args.test_wav_scp)}
        with atomic_directory(args.output_dir) as out:
            book.save(out / "codebook.pt")
            rows = []
            for name, *files in args.task:
                os.makedirs(out / name, exist_ok=True)
                rows += write_task(book, name, files, recordings, out, args.num_samples)
            head = "".join(f"<th>{h}</th>" for h in ("task", "utterance", *KINDS, "recording"))
            (out / "index.html").write_text(
                "<!doctype html><meta charset=utf-8><title>mini_speechgen: listen</title>"
                "<h1>Generated speech (unit codebook + Griffin-Lim)</h1><p>input: the units the "
                "model read (masked units as silence); generated: its output; reference: the "
                "true units; recording: the utterance itself.</p>"
                f"<table border=1><tr>{head}</tr>{''.join(rows)}</table>\n"
            )
        print(f"listen: {args.output_dir}/index.html")


if __name__ == "__main__":
    main()
