"""Units (``utt u1 u2 ...``) → waveforms with a unit HiFi-GAN vocoder; writes wavs + wav.scp.

    python -m espnet2_speechprompt.bin.units_to_wav --units exp/decode/units \\
        --checkpoint vocoder/g_00500000 --config vocoder/config.json --out-dir exp/decode/wav
    # split: JOB=1:N  ... --nj N --job JOB   then   ... --out-dir exp/decode/wav --nj N --merge

Writes ``<out-dir>/wav/<utt>.wav`` (16-bit PCM at the vocoder's rate) and ``<out-dir>/wav.scp``
(``wav.scp.J`` for job J of N; ``--merge`` joins them). Every input is checked before anything
is written; each wav goes to ``*.tmp`` first and is renamed when complete, and wav.scp is
written last, so it only lists finished files.

Licence: the released unit HiFi-GAN weights (fairseq/Hugging Face ``unit_hifigan_*``) are
published under CC BY-NC 4.0: non-commercial use only unless you have checked otherwise.
This tool ships no weights.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import torch

from espnet2_speechprompt.bin.units_cli import run
from espnet2_speechprompt.fileio import atomic_open, write_wav
from espnet2_speechprompt.kaldi_text import parse_ints, read_entries
from espnet2_speechprompt.units.datadir import check_job_options, job_slice, merge_parts, part_name
from espnet2_speechprompt.vocoder import UnitHifiGan, UnitInputError, VocoderError, load_vocoder
from espnet2_speechprompt.vocoder.hifigan import check_durations

logger = logging.getLogger("units_to_wav")

LICENCE = (
    "Licence: released unit HiFi-GAN weights are CC BY-NC 4.0 (non-commercial use only "
    "unless you have checked otherwise); this tool ships no weights."
)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m espnet2_speechprompt.bin.units_to_wav",
        description=__doc__.split("\n\nLicence")[0],
        epilog=LICENCE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--units", help="units text file: 'utt u1 u2 ...' per line")
    parser.add_argument("--out-dir", "--out_dir", required=True, help="where wav/ and wav.scp go")
    parser.add_argument(
        "--checkpoint", help="unit HiFi-GAN generator ({'generator': ...}, e.g. g_00500000)"
    )
    parser.add_argument("--config", help="its config.json (default: config.json beside it)")
    add_duration_options(parser)
    parser.add_argument(
        "--batch_size",
        "--batch-size",
        type=int,
        help="utterances per forward pass (default: 1 on CPU, where batching does not pay, "
        "8 on GPU; batched audio equals one-at-a-time audio)",
    )
    parser.add_argument(
        "--device", default="cpu", help="cpu, cuda, cuda:1, ... (default: %(default)s)"
    )
    parser.add_argument(
        "--subtype",
        default="PCM_16",
        choices=["PCM_16", "PCM_24", "FLOAT"],
        help="wav sample type (default: %(default)s)",
    )
    parser.add_argument(
        "--skip_empty",
        "--skip-empty",
        action="store_true",
        help="leave out utterances with no units (e.g. nothing was generated) instead of "
        "failing; they are counted in the log and missing from wav.scp",
    )
    parser.add_argument("--nj", type=int, default=1, help="number of parallel jobs (default: 1)")
    parser.add_argument("--job", type=int, help="this job's number, 1..nj (JOB=1:N)")
    parser.add_argument("--merge", action="store_true", help="join wav.scp.1..N into wav.scp")
    return parser


def add_duration_options(parser: argparse.ArgumentParser) -> None:
    """How unit durations are known: predicted, frames already, or given per unit."""
    dur = parser.add_mutually_exclusive_group()
    dur.add_argument(
        "--dur_prediction",
        "--dur-prediction",
        dest="dur_prediction",
        action="store_const",
        const=True,
        default=None,
        help="units are deduplicated: repeat each by the vocoder's predicted duration "
        "(default: on when the vocoder has a duration predictor)",
    )
    dur.add_argument(
        "--no_dur_prediction",
        "--no-dur-prediction",
        dest="dur_prediction",
        action="store_const",
        const=False,
        help="units are frames (e.g. 50 Hz HuBERT units, not deduplicated)",
    )
    dur.add_argument(
        "--durations", help="frames per unit: 'utt d1 d2 ...' (one count per unit, >= 0)"
    )


def read_int_table(path: str, what: str) -> list[tuple[str, list[int]]]:
    """``(utt, ints)`` of an ``utt i1 i2 ...`` file, in order; one clear error per bad line."""
    kind = "unit id" if what == "units" else "duration"
    rows = [(e.key, parse_ints(e, kind)) for e in read_entries(path, f"{what} file")]
    if not rows:
        raise VocoderError(f"{path}: the {what} file is empty")
    return rows


def load_inputs(
    args: argparse.Namespace, vocoder: UnitHifiGan
) -> tuple[list[tuple[str, list[int]]], dict[str, list[int]] | None]:
    """This job's units (and durations), all checked against the vocoder."""
    rows = read_int_table(args.units, "units")
    rows = rows[job_slice(len(rows), args.nj, args.job or 1)]
    if getattr(args, "skip_empty", False):
        empty = [utt for utt, units in rows if not units]
        if empty:
            logger.warning("%d utterances have no units (e.g. %s): no wav", len(empty), empty[0])
        rows = [(utt, units) for utt, units in rows if units]
    for utt, units in rows:
        if "/" in utt or utt in {".", ".."} or "\0" in utt:
            raise UnitInputError(f"utterance id {utt!r} cannot be used as a wav file name")
        vocoder.check_units(torch.tensor(units, dtype=torch.long), utt)
    durations = None
    if args.durations:
        durations = dict(read_int_table(args.durations, "durations"))
        for utt, units in rows:
            if utt not in durations:
                raise UnitInputError(f"utterance {utt}: no durations in {args.durations}")
            check_durations(torch.tensor(durations[utt]), len(units), utt)
    return rows, durations


def synthesize(args: argparse.Namespace) -> str:
    if not args.units or not args.checkpoint:
        raise VocoderError("--units and --checkpoint are required (or --merge)")
    if args.batch_size is None:
        args.batch_size = 1 if str(args.device).startswith("cpu") else 8
    if args.batch_size < 1:
        raise VocoderError(f"--batch_size must be positive (got {args.batch_size})")
    vocoder = load_vocoder(args.checkpoint, args.config, device=args.device)
    dur_prediction = args.dur_prediction
    if dur_prediction is None:
        dur_prediction = vocoder.dur_predictor is not None and not args.durations
        logger.info(
            "units are taken as %s",
            "deduplicated (predicted durations)" if dur_prediction else "frames",
        )
    elif dur_prediction and vocoder.dur_predictor is None:
        raise VocoderError(
            f"{args.checkpoint}: this vocoder has no duration predictor; give frame-rate units "
            "with --no_dur_prediction (or --durations)"
        )
    rows, durations = load_inputs(args, vocoder)
    wav_dir = os.path.join(args.out_dir, "wav")
    os.makedirs(wav_dir, exist_ok=True)
    scp_path = os.path.join(args.out_dir, part_name("wav.scp", args.nj, args.job))
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i][1]))  # less padding
    from tqdm import tqdm

    desc = f"units_to_wav {args.job}/{args.nj}" if args.job else "units_to_wav"
    with tqdm(total=len(rows), desc=desc, unit="utt", file=sys.stderr, leave=False) as bar:
        for start in range(0, len(order), args.batch_size):
            batch = [rows[i] for i in order[start : start + args.batch_size]]
            names = [utt for utt, _ in batch]
            wavs = vocoder.synthesize(
                [units for _, units in batch],
                dur_prediction=dur_prediction,
                durations=[durations[u] for u in names] if durations else None,
                names=names,
            )
            for utt, wav in zip(names, wavs, strict=True):
                write_wav(
                    os.path.join(wav_dir, f"{utt}.wav"), wav, vocoder.sample_rate, args.subtype
                )
            bar.update(len(batch))
    with atomic_open(scp_path) as f:
        for utt, _ in rows:
            f.write(f"{utt} {os.path.join(wav_dir, utt + '.wav')}\n")
    return scp_path


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    check_job_options(args.nj, args.job, args.merge, VocoderError)
    if args.merge:
        path = merge_parts(args.out_dir, "wav.scp", args.nj)
        print(f"merged {args.nj} parts into {path}", file=sys.stderr)
        return 0
    path = synthesize(args)
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
