"""Corpus BLEU through sacrebleu (standard 13a tokenization, exponential smoothing), with one or
several references per hypothesis (Fisher dev/dev2/test have four)."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import SpeechPromptError


def corpus_bleu(
    hyps: Sequence[str],
    refs: Sequence[Sequence[str]],
    *,
    lowercase: bool = False,
    tokenize: str = "13a",
) -> dict[str, float | str]:
    """BLEU of ``hyps`` against reference streams ``refs`` (``refs[k][i]``: the k-th reference
    of hypothesis i). Returns ``score`` (0-100), the n-gram ``precisions``, ``bp`` and the
    sacrebleu ``signature``."""
    try:
        import sacrebleu
    except ImportError:
        raise SpeechPromptError(
            "BLEU needs sacrebleu: pip install sacrebleu==2.6.0 (see tools/requirements.txt)"
        ) from None
    if not refs:
        raise SpeechPromptError("BLEU needs at least one reference stream")
    for k, stream in enumerate(refs):
        if len(stream) != len(hyps):
            raise SpeechPromptError(
                f"reference stream {k} has {len(stream)} lines for {len(hyps)} hypotheses"
            )
    if not hyps:
        raise SpeechPromptError("no utterances to score")
    metric = sacrebleu.metrics.BLEU(lowercase=lowercase, tokenize=tokenize)
    result = metric.corpus_score(list(hyps), [list(stream) for stream in refs])
    return {
        "score": float(result.score),
        "precisions": [float(p) for p in result.precisions],
        "bp": float(result.bp),
        "signature": str(metric.get_signature()),
    }
