"""Target speech synthesized from reference translations by a TTS command named in a conf.

The conf (yaml) gives ``command``: the argument list of a program that reads the text on
stdin and writes a wav file to the path ``{wav}`` (default: espeak-ng, US English). Outputs
are ``<out_dir>/<utt>.wav``; files already there are kept (resumable).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from ..fileio import atomic_path
from .kaldi import DataPrepError, Utterance

DEFAULT_COMMAND = ("espeak-ng", "-v", "en-us", "-w", "{wav}", "--stdin")


def load_command(conf: str | os.PathLike | None) -> list[str]:
    """The TTS argument list of a yaml conf (``command: [...]``), or the espeak-ng default."""
    if conf is None:
        return list(DEFAULT_COMMAND)
    if not os.path.isfile(conf):
        raise DataPrepError(f"{conf}: no such TTS conf (yaml with 'command: [...]')")
    with open(conf, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    command = data.get("command") if isinstance(data, dict) else None
    if (
        not isinstance(command, list)
        or not command
        or not all(isinstance(a, str) for a in command)
        or not any("{wav}" in a for a in command)
    ):
        raise DataPrepError(f"{conf}: 'command' must be a list of strings with a {{wav}} argument")
    return command


def synthesize_one(command: Sequence[str], text: str, wav: Path) -> None:
    if wav.is_file() and wav.stat().st_size > 44:
        return
    with atomic_path(wav, ".tmp.wav") as tmp:
        args = [a.replace("{wav}", str(tmp)) for a in command]
        proc = subprocess.run(args, input=text.encode("utf-8"), capture_output=True)
        if proc.returncode != 0 or not tmp.is_file():
            detail = proc.stderr.decode(errors="replace").strip().splitlines()
            raise DataPrepError(
                f"TTS command {' '.join(args)!r} failed for {wav.stem}"
                + (f": {detail[-1]}" if detail else "")
            )


def synthesize_targets(
    utts: Sequence[Utterance],
    out_dir: str | os.PathLike,
    command: Sequence[str],
    text_key: str = "tgt_text",
    nj: int = 1,
) -> None:
    """Synthesize ``utt.extra[text_key]`` for every utterance; set ``extra['tgt_wav.scp']``."""
    if shutil.which(command[0]) is None:
        raise DataPrepError(
            f"the TTS program {command[0]!r} is not installed (apt-get install espeak-ng, or "
            "name another in the TTS conf)"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(u, out_dir / f"{u.utt}.wav") for u in utts]
    with ThreadPoolExecutor(max_workers=max(1, nj)) as pool:
        list(pool.map(lambda job: synthesize_one(command, job[0].extra[text_key], job[1]), jobs))
    for utt, wav in jobs:
        utt.extra["tgt_wav.scp"] = str(wav.resolve())
