"""Speech synthesized with espeak-ng for the corpora the mini recipes make themselves.

One utterance is a text spoken by an espeak-ng voice (a language or accent) with a voice
variant (the timbre), at a speed and a pitch. :func:`render` gives it as 16 kHz mono;
:func:`degrade` pads it with a little silence, scales it to a random level and mixes in white,
pink or brown noise at a random SNR. Voice variants are dealt to voice-disjoint groups (splits) by
:func:`deal_variants`, gender-balanced and seeded.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Iterable, Sequence

import numpy as np

from .kaldi import DataPrepError

SAMPLE_RATE = 16000
ESPEAK_RATE = 22050

# Voice variants (espeak-ng-data/voices/!v) that keep the speech intelligible: no whispers,
# robots, long echoes or cartoon pitches. (variant, gender)
VARIANTS = (
    ("m1", "m"),
    ("f1", "f"),
    ("m2", "m"),
    ("f2", "f"),
    ("m3", "m"),
    ("f3", "f"),
    ("m4", "m"),
    ("f4", "f"),
    ("m5", "m"),
    ("f5", "f"),
    ("m6", "m"),
    ("Annie", "f"),
    ("m7", "m"),
    ("anika", "f"),
    ("m8", "m"),
    ("belinda", "f"),
    ("klatt", "m"),
    ("linda", "f"),
    ("klatt2", "m"),
    ("steph", "f"),
    ("klatt3", "m"),
    ("Andy", "m"),
    ("Denis", "m"),
    ("Gene", "m"),
    ("Mike", "m"),
    ("antonio", "m"),
    ("david", "m"),
    ("edward", "m"),
    ("michel", "m"),
    ("paul", "m"),
    ("Alex", "m"),
    ("Andrea", "f"),
    ("Gene2", "m"),
    ("aunty", "f"),
    ("Jacky", "m"),
    ("Lee", "m"),
    ("grandma", "f"),
    ("Mario", "m"),
    ("Michael", "m"),
    ("steph2", "f"),
    ("Nguyen", "m"),
    ("boris", "m"),
    ("ed", "m"),
    ("gustave", "m"),
    ("max", "m"),
    ("pedro", "m"),
    ("quincy", "m"),
    ("rob", "m"),
    ("robert", "m"),
    ("sandro", "m"),
    ("shelby", "m"),
    ("travis", "m"),
    ("victor", "m"),
    ("klatt4", "m"),
    ("grandpa", "m"),
    ("adam", "m"),
    ("benjamin", "m"),
    ("edward2", "m"),
    ("Alicia", "f"),
    ("Diogo", "m"),
    ("Henrique", "m"),
    ("steph3", "f"),
    ("miguel", "m"),
    ("klatt5", "m"),
    ("john", "m"),
    ("norbert", "m"),
    ("pablo", "m"),
    ("Storm", "m"),
    ("iven", "m"),
    ("croak", "m"),
)

_OTHER_LANGUAGE = re.compile(r"\(([^\s()]+) \d+\)")  # "(zh-cmn 5)" in a voice listing
INSTALL_HINT = "apt-get install espeak-ng (Debian/Ubuntu) or tools/install_system_deps.sh"


def require_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        raise DataPrepError(f"espeak-ng is not installed: {INSTALL_HINT}")


def _listing(*args: str) -> list[str]:
    """The rows of ``espeak-ng --voices...`` (header dropped)."""
    out = subprocess.run(["espeak-ng", *args], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines()[1:] if line.strip()]


def espeak_voices() -> set[str]:
    """Every name ``espeak-ng -v`` accepts for a language voice (lower case): the language
    codes, the voice names, the voice files and their other language codes."""
    known: set[str] = set()
    for line in _listing("--voices"):
        row = line.split()
        if len(row) < 5:
            continue
        known.update(name.lower() for name in (row[1], row[3], row[4], row[4].split("/")[-1]))
        known.update(code.lower() for code in _OTHER_LANGUAGE.findall(line))  # (en 10) -> en
    return known


def espeak_variants() -> set[str]:
    """The voice variants espeak-ng has (the ``!v/<name>`` files), lower case."""
    return {
        token[3:].lower()
        for line in _listing("--voices=variant")
        for token in line.split()
        if token.startswith("!v/")
    }


def check_voices(voices: Iterable[str], variants: Iterable[str], where: str) -> None:
    """Refuse, in one line naming ``where``, a voice or variant this espeak-ng lacks."""
    require_espeak()
    known, known_variants = espeak_voices(), espeak_variants()
    for voice in sorted(set(voices)):
        if voice.lower() not in known:
            raise DataPrepError(
                f"{where}: espeak-ng has no voice {voice!r} (espeak-ng --voices lists them); "
                "install a fuller espeak-ng-data or use another language"
            )
    for variant in sorted(set(variants)):
        if variant.lower() not in known_variants:
            raise DataPrepError(
                f"{where}: espeak-ng has no voice variant {variant!r} "
                "(espeak-ng --voices=variant lists them)"
            )


def render(voice: str, speed: int, pitch: int, text: str) -> np.ndarray:
    """``text`` spoken by ``voice`` (``<language>+<variant>``): 16 kHz mono float64."""
    import soundfile
    from scipy.signal import resample_poly

    with tempfile.TemporaryDirectory(prefix="espeak.") as tmpdir:
        out = os.path.join(tmpdir, "out.wav")
        cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", out, text]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not os.path.isfile(out):
            raise DataPrepError(f"{' '.join(cmd)} failed: {result.stderr.strip()}")
        samples, rate = soundfile.read(out, dtype="float64", always_2d=True)
    if rate != ESPEAK_RATE:
        raise DataPrepError(f"espeak-ng wrote {rate} Hz audio, expected {ESPEAK_RATE} Hz")
    if samples.shape[0] < ESPEAK_RATE // 10:
        raise DataPrepError(f"{' '.join(cmd)} produced {samples.shape[0]} samples (no speech?)")
    return resample_poly(samples.mean(axis=1), SAMPLE_RATE, ESPEAK_RATE)  # 320/441 polyphase


def utterance_rng(seed: int, utt: str) -> np.random.Generator:
    """The generator of one utterance: the same whichever process synthesizes it."""
    return np.random.default_rng([seed, zlib.crc32(utt.encode())])


NOISES = ("white", "pink", "brown")  # flat, 1/f and 1/f^2 power


def colored_noise(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    white = rng.standard_normal(n)
    if kind == "white":
        return white
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    ratio = freqs[1:] / freqs[1]
    spectrum[1:] /= np.sqrt(ratio) if kind == "pink" else ratio
    spectrum[0] = 0.0
    return np.fft.irfft(spectrum, n)


def degrade(
    speech: np.ndarray,
    rng: np.random.Generator,
    snr: Sequence[float],
    max_pad: float,
    noise_kind: str | None = None,
) -> np.ndarray:
    """Silence (up to ``max_pad`` s) on each side, a random level, noise of ``noise_kind`` (by
    default white or pink, drawn) at an SNR drawn from ``snr`` (dB, over the non-silent
    samples); peaks kept below 0.99."""
    lead, trail = (rng.uniform(0.0, max_pad, size=2) * SAMPLE_RATE).astype(int)
    speech = np.concatenate([np.zeros(lead), speech, np.zeros(trail)])
    speech *= rng.uniform(0.3, 0.8) / max(np.abs(speech).max(), 1e-9)
    if noise_kind is None:
        noise_kind = "white" if rng.random() < 0.5 else "pink"
    noise = colored_noise(rng, speech.size, noise_kind)
    snr_db = rng.uniform(*snr)
    speech_power = np.mean(speech[np.abs(speech) > 0.0] ** 2)
    noise *= np.sqrt(speech_power / (np.mean(noise**2) * 10 ** (snr_db / 10)))
    mixed = speech + noise
    peak = np.abs(mixed).max()
    if peak > 0.99:
        mixed *= 0.99 / peak
    return mixed


def split_counts(total: int, ratios: Sequence[float]) -> list[int]:
    """``total`` items shared in proportion to ``ratios`` (largest remainder), none empty."""
    if total < len(ratios):
        raise DataPrepError(
            f"need at least {len(ratios)} voices for {len(ratios)} voice-disjoint groups, "
            f"got {total}"
        )
    exact = [total * r / sum(ratios) for r in ratios]
    counts = [max(1, int(e)) for e in exact]
    while sum(counts) < total:
        i = max(range(len(ratios)), key=lambda j: (exact[j] - counts[j], -j))
        counts[i] += 1
    while sum(counts) > total:
        i = max(
            (j for j in range(len(ratios)) if counts[j] > 1), key=lambda j: counts[j] - exact[j]
        )
        counts[i] -= 1
    return counts


def deal_variants(num_variants: int, ratios: Sequence[float], seed: int) -> list[list[int]]:
    """Indices into :data:`VARIANTS` (the first ``num_variants``) for each group, the group
    sizes in proportion to ``ratios``. Seeded and gender-balanced: the variants are shuffled
    within gender, then dealt (females first) to the group furthest below its quota."""
    rng = np.random.default_rng(seed)
    ordered: list[int] = []
    for gender in ("f", "m"):
        group = [i for i in range(num_variants) if VARIANTS[i][1] == gender]
        ordered += [group[k] for k in rng.permutation(len(group))]
    counts = split_counts(num_variants, ratios)
    chosen: list[list[int]] = [[] for _ in ratios]
    for n, index in enumerate(ordered, 1):
        open_groups = [j for j in range(len(ratios)) if len(chosen[j]) < counts[j]]
        j = max(open_groups, key=lambda j: (n * counts[j] / num_variants - len(chosen[j]), -j))
        chosen[j].append(index)
    return chosen
