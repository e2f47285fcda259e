r"""ASR-BLEU and ASR-WER of generated speech: transcribe the wavs with an ASR model, then corpus
BLEU and word/character error rates against the reference text.

    python -m espnet2_speechprompt.bin.asr_bleu --wav_scp exp/decode/test/wav/wav.scp \
        --ref dump/raw/test/tgt_text --output_dir exp/decode/test/asr_bleu \
        --asr_model_tag <espnet_model_zoo / Hugging Face tag>
    # or a local ESPnet ASR model: --asr_train_config config.yaml --asr_model_file model.pth
    # or any transcriber: --asr_factory my_module:make (make(device=...) -> f(wav, rate) -> str)

Writes ``<output_dir>/text`` (the transcripts) and ``<output_dir>/result.json`` (``bleu``,
``bleu_signature``, ``wer`` and ``cer`` against the first reference, ``asr_model``,
``num_utterances``, ``missing_wavs``). Utterances of
``--ref`` without a wav (e.g. nothing was generated) count as empty transcripts. With
``--normalize true`` (default, as ASR-BLEU is usually reported) transcripts and references are
lower-cased and stripped of punctuation (apostrophes kept) before BLEU; several references
(Fisher's four) are given with ``--extra_ref``. ESPnet's ``Speech2Text`` is imported only when
an ESPnet model is named (a model tag needs ``espnet_model_zoo`` and network access once).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import SpeechPromptError
from ..fileio import atomic_write_text
from ..options import str2bool
from .cli_errors import exit_on_user_error
from .speechprompt_score import read_table

Transcriber = Callable[[np.ndarray, int], str]
ASR_RATE = 16000  # the rate ESPnet ASR models are trained at (resampled to it)


def normalize_text(text: str) -> str:
    """Lower case, punctuation removed (apostrophes kept), runs of whitespace as one space."""
    kept = [
        " " if unicodedata.category(c).startswith("P") and c not in "'’" else c
        for c in text.lower()
    ]
    return " ".join("".join(kept).split())


def espnet_transcriber(
    model_tag: str | None = None,
    asr_train_config: str | None = None,
    asr_model_file: str | None = None,
    device: str = "cpu",
    beam_size: int = 10,
) -> Transcriber:
    """An ESPnet2 ``Speech2Text`` (a model zoo tag, or a local config + model file)."""
    try:
        from espnet2.bin.asr_inference import Speech2Text
    except ImportError as exc:
        raise SpeechPromptError(
            f"ESPnet ASR is not importable ({exc}): pip install espnet"
        ) from None
    options = dict(device=device, beam_size=beam_size, ctc_weight=0.3, lm_weight=0.0)
    if model_tag:
        try:
            speech2text = Speech2Text.from_pretrained(model_tag, **options)
        except ImportError as exc:
            raise SpeechPromptError(
                f"--asr_model_tag needs espnet_model_zoo ({exc}): pip install espnet_model_zoo"
            ) from None
    else:
        for path in (asr_train_config, asr_model_file):
            if not path or not os.path.isfile(path):
                raise SpeechPromptError(f"ASR model file not found: {path}")
        speech2text = Speech2Text(asr_train_config, asr_model_file, **options)

    def transcribe(wav: np.ndarray, rate: int) -> str:
        wav = resample(wav, rate, ASR_RATE)
        results = speech2text(wav)
        return results[0][0] if results else ""

    return transcribe


def resample(wav: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return wav
    import torch
    import torchaudio.functional

    return torchaudio.functional.resample(torch.from_numpy(wav), rate, target).numpy()


def load_factory(spec: str) -> Callable[..., Transcriber]:
    """``module:function`` -> the function (it gets ``device=`` and returns a transcriber)."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise SpeechPromptError(f"--asr_factory must be module:function, not {spec!r}")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise SpeechPromptError(f"--asr_factory {spec}: cannot import it ({exc})") from None


def transcribe_all(wav_scp: str, refs: list[str], transcriber: Transcriber) -> dict[str, str]:
    """Transcripts of the utterances of ``refs`` that have a wav."""
    from ..units.audio import read_audio, read_wav_scp

    wavs = dict(read_wav_scp(wav_scp))
    out = {}
    for utt in refs:
        if utt in wavs:
            samples, rate = read_audio(utt, wavs[utt])
            if samples.ndim == 2:
                samples = samples.mean(axis=1)
            out[utt] = " ".join(str(transcriber(samples.astype(np.float32), rate)).split())
    return out


def asr_bleu(
    transcripts: dict[str, str],
    ref: dict[str, str],
    extra_refs: list[dict[str, str]] = (),
    normalize: bool = True,
) -> dict:
    """Corpus BLEU of the transcripts (missing ones empty) against one or more references, and
    their word and character error rates against the first."""
    from ..scoring import corpus_bleu
    from ..scoring.metrics import cer, wer

    keys = sorted(ref)
    norm = normalize_text if normalize else (lambda text: text)
    streams = []
    for number, table in enumerate([ref, *extra_refs]):
        missing = [k for k in keys if k not in table]
        if missing:
            raise SpeechPromptError(f"utterance {missing[0]} is missing from reference {number}")
        streams.append([norm(table[k]) for k in keys])
    hyps = [norm(transcripts.get(k, "")) for k in keys]
    bleu = corpus_bleu(hyps, streams)
    return {
        "bleu": bleu["score"],
        "bleu_signature": bleu["signature"] + ("|norm:lc-nopunct" if normalize else ""),
        "wer": wer(hyps, streams[0]),
        "cer": cer(hyps, streams[0]),
        "num_utterances": len(keys),
        "missing_wavs": sum(k not in transcripts for k in keys),
    }


def build_transcriber(args: argparse.Namespace) -> tuple[Transcriber, str]:
    """The transcriber the options name, and its description for the results."""
    if args.asr_factory:
        return load_factory(args.asr_factory)(device=args.device), args.asr_factory
    if args.asr_model_tag:
        return espnet_transcriber(args.asr_model_tag, device=args.device), args.asr_model_tag
    if args.asr_train_config or args.asr_model_file:
        transcriber = espnet_transcriber(
            None, args.asr_train_config, args.asr_model_file, device=args.device
        )
        return transcriber, f"{args.asr_train_config} {args.asr_model_file}"
    raise SpeechPromptError(
        "name an ASR model: --asr_model_tag, --asr_train_config + --asr_model_file, or "
        "--asr_factory (in the recipe: conf/asr_bleu.yaml)"
    )


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def run(args: argparse.Namespace, transcriber: Transcriber | None = None) -> dict:
    """Transcribe, score, write ``text`` and ``result.json``; ``transcriber`` overrides the
    options' ASR model (tests inject a fake one)."""
    ref = read_table(args.ref)
    if not ref:
        raise SpeechPromptError(f"{args.ref}: no references")
    extra = [read_table(path) for path in args.extra_ref]
    name = "injected"
    if transcriber is None:
        transcriber, name = build_transcriber(args)
    transcripts = transcribe_all(args.wav_scp, sorted(ref), transcriber)
    result = asr_bleu(transcripts, ref, extra, args.normalize)
    result["asr_model"] = name
    if result["missing_wavs"]:
        logging.warning(f"{result['missing_wavs']} utterances have no wav: empty transcripts")
    out = Path(args.output_dir)
    write_atomic(out / "text", "".join(f"{k} {transcripts.get(k, '')}\n" for k in sorted(ref)))
    write_atomic(out / "result.json", json.dumps(result, indent=2) + "\n")
    return result


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wav_scp", required=True, help="the generated speech")
    parser.add_argument("--ref", required=True, help="reference translations: 'utt text'")
    parser.add_argument("--extra_ref", action="append", default=[], help="another reference")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--asr_model_tag", default=None, help="espnet_model_zoo model tag")
    parser.add_argument("--asr_train_config", default=None, help="a local ESPnet ASR config")
    parser.add_argument("--asr_model_file", default=None, help="its model file")
    parser.add_argument("--asr_factory", default=None, help="module:function (custom ASR)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--normalize",
        type=str2bool,
        default=True,
        help="lower-case and strip punctuation before BLEU (true|false)",
    )
    return parser


def main(cmd: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = get_parser().parse_args(cmd)
    with exit_on_user_error():
        result = run(args)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
