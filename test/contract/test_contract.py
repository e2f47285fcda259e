"""The contract every prompted model keeps, checked on every combination of the registry
(``cases.py``: backbone x prompt configuration x verbalizer) on random tiny weights:

1. the backbone stays bit-identical through optimizer steps and is never in training mode;
2. every trainable parameter (each of its vectors) gets a gradient, nothing else does;
3. a case builds the same model every time, and its trainable state saved and loaded into a
   model built from another seed gives the same outputs (loss, logits, scores);
4. cached decoding (greedy and beam) == recomputing the teacher-forced forward at every step;
5. a batch (left/right padded sources of different lengths) == its rows one at a time;
6. classification scores == sequence log-likelihoods of the teacher-forced forward == minus
   the summed loss of ``forward``.

In-context learning (``EpisodeCase``) keeps 1-3, and: a fixed seed gives the same episodes, an
episode batch equals its episodes one at a time, and candidate scores are the query label's
log-likelihood (minus the loss).
"""

from __future__ import annotations

import math

import pytest
import torch

from espnet2_speechprompt.api.builder import (
    STATE_PREFIX,
    build_speechprompt,
    load_state,
    trainable_state,
)
from espnet2_speechprompt.vocab import NUM_SPECIALS, PAD
from test.contract.cases import (
    BACKBONES,
    CASES,
    DECODER_ONLY_PROMPTS,
    ENCODER_DECODER_PROMPTS,
    ICL_CASES,
    ICL_EPISODES,
    REFUSED,
    VERBALIZER_SETTINGS,
    ContractCase,
    ContractInputs,
    EpisodeCase,
    episode_inputs,
)
from test.recompute import assert_same_nbest, recomputed_scores, recomputed_search

ATOL = 1e-5
SEARCH = {"max_len_a": 0.5, "max_len_b": 2}  # short, and different per source
BEAMS = (1, 3)  # greedy and beam search
pytestmark = pytest.mark.usefixtures("one_thread")
every_case = pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
# the checks every trainable method keeps (ICL episodes included)
every_method = pytest.mark.parametrize(
    "case", CASES + ICL_CASES, ids=[case.id for case in CASES + ICL_CASES]
)


def _trainable(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def _rows(x: ContractInputs) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each source alone, cut to its own length."""
    return [(x.source[i : i + 1, :n], x.lengths[i : i + 1]) for i, n in enumerate(x.lengths)]


def test_the_matrix_covers_every_combination():
    prompts = {
        backbone.name: ENCODER_DECODER_PROMPTS if backbone.encoder_decoder else DECODER_ONLY_PROMPTS
        for backbone in BACKBONES
    }
    expected = {
        f"{backbone}-{prompt}-{verbalizer}"
        for backbone, names in prompts.items()
        for prompt in names
        for verbalizer in VERBALIZER_SETTINGS
    }
    ids = [case.id for case in [*CASES, *REFUSED]]
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert {case.verbalizer for case in REFUSED} == {"frequency"}
    assert {case.backbone.input for case in REFUSED} == {"speech"}


@pytest.mark.parametrize("case", REFUSED, ids=[case.id for case in REFUSED])
def test_refused_combination_says_why(case):
    with pytest.raises(case.error, match=case.match) as refusal:
        build_speechprompt(case.options())
    assert "\n" not in str(refusal.value)


@every_method
def test_backbone_bit_identical_after_optimizer_steps(case: ContractCase | EpisodeCase):
    model, x = case.build(), case.inputs()
    backbone = {key: value.clone() for key, value in model.backbone.state_dict().items()}
    trainable = {name: p.detach().clone() for name, p in _trainable(model).items()}
    optimizer = torch.optim.Adam(_trainable(model).values(), lr=1.0)
    model.train()
    for _ in range(3):
        assert not any(module.training for module in model.backbone.modules())
        optimizer.zero_grad()
        case.loss(model, x).backward()
        optimizer.step()
    model.eval()
    assert not any(module.training for module in model.backbone.modules())
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, backbone[key]), key
    for name, p in _trainable(model).items():
        assert not torch.equal(p, trainable[name]), f"{name} did not move"


@every_method
def test_gradient_reaches_every_trainable_vector_and_nothing_else(case: ContractCase | EpisodeCase):
    model, x = case.build().train(), case.inputs()
    case.loss(model, x).backward()
    trainable = _trainable(model)
    assert set(trainable) == case.trainable
    for name, p in trainable.items():
        assert p.grad is not None, name
        vectors = p.grad.reshape(-1, p.shape[-1])  # per prompt position, layer, key/value
        assert bool(vectors.abs().sum(dim=1).gt(0).all()), f"{name}: a vector gets no gradient"
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(name.startswith("backbone.") for name in frozen)
    assert all(p.grad is None for p in model.backbone.parameters())


@every_method
def test_trainable_state_save_load_gives_identical_outputs(
    case: ContractCase | EpisodeCase, tmp_path
):
    model, x = case.build(seed=0).eval(), case.inputs()
    state = trainable_state(model)
    assert set(state) == {STATE_PREFIX + name for name in case.trainable}
    torch.save(state, tmp_path / "model.pth")
    expected = case.outputs(model, x)
    rebuilt = case.outputs(case.build(seed=0).eval(), x)  # a case is deterministic
    assert all(torch.equal(a, b) for a, b in zip(rebuilt, expected, strict=True))
    fresh = case.build(seed=1).eval()
    assert not torch.equal(case.outputs(fresh, x)[-1], expected[-1])
    load_state(fresh, tmp_path / "model.pth")
    for got, want in zip(case.outputs(fresh, x), expected, strict=True):
        assert torch.equal(got, want)


def _hypotheses_as_candidates(nbest) -> torch.Tensor:
    longest = max([1] + [len(h.tokens) for h in nbest])
    return torch.tensor([h.tokens + [PAD] * (longest - len(h.tokens)) for h in nbest])


@every_case
def test_cached_decoding_equals_recompute(case: ContractCase):
    model, x = case.build().eval(), case.inputs()
    for beam in BEAMS:
        cached = model.search(x.source, x.lengths, beam_size=beam, **SEARCH)
        assert_same_nbest(cached, recomputed_search(model, x.source, x.lengths, beam, **SEARCH))
        for (source, lengths), nbest in zip(_rows(x), cached, strict=True):
            forced = recomputed_scores(model, source, lengths, _hypotheses_as_candidates(nbest))
            for hyp, logprob in zip(nbest, forced[0].tolist(), strict=True):
                assert math.isclose(hyp.logprob, logprob, abs_tol=ATOL), (hyp, logprob)


@every_case
def test_batched_equals_one_at_a_time(case: ContractCase):
    model, x = case.build().eval(), case.inputs()
    with torch.no_grad():
        logits = model.sequence_logits(x.source, x.lengths, x.labels)
        for i, (source, lengths) in enumerate(_rows(x)):
            m = int(x.label_lengths[i])
            single = model.sequence_logits(source, lengths, x.labels[i : i + 1, :m])
            torch.testing.assert_close(logits[i : i + 1, : m + 1], single, atol=ATOL, rtol=0)
    scores = model.score_candidates(x.source, x.lengths, x.candidates)
    single = [model.score_candidates(*row, x.candidates) for row in _rows(x)]
    torch.testing.assert_close(scores, torch.cat(single), atol=ATOL, rtol=0)
    for beam in BEAMS:
        batched = model.search(x.source, x.lengths, beam_size=beam, **SEARCH)
        one_by_one = [model.search(*row, beam_size=beam, **SEARCH)[0] for row in _rows(x)]
        assert_same_nbest(batched, one_by_one, atol=ATOL)


@every_case
def test_classification_scores_are_sequence_log_likelihoods(case: ContractCase):
    model, x = case.build().eval(), case.inputs()
    best, scores = model.classify(x.source, x.lengths, x.candidates)
    assert torch.equal(scores, model.score_candidates(x.source, x.lengths, x.candidates))
    assert torch.equal(best, scores.argmax(dim=1))
    forced = recomputed_scores(model, x.source, x.lengths, x.candidates)
    torch.testing.assert_close(scores, forced, atol=ATOL, rtol=0)
    candidate_lengths = x.candidates.ne(PAD).sum(dim=1)
    with torch.no_grad():
        for i, (source, lengths) in enumerate(_rows(x)):
            for k, candidate in enumerate(x.candidates):
                out = model(source, lengths, candidate[None], candidate_lengths[k : k + 1])
                summed = float(out["loss"] * out["num_tokens"])
                assert math.isclose(-summed, float(scores[i, k]), abs_tol=ATOL), (i, k)


# ---------------------------------------------------------------- in-context learning episodes
every_episode_case = pytest.mark.parametrize("case", ICL_CASES, ids=[c.id for c in ICL_CASES])


def test_episodes_have_one_length_and_a_fixed_seed_gives_the_same_episodes():
    first, again = episode_inputs(seed=2), episode_inputs(seed=2)
    assert torch.equal(first.episodes, again.episodes)
    assert torch.equal(first.targets, again.targets)
    assert not torch.equal(episode_inputs(seed=3).episodes, first.episodes)
    assert first.episodes.shape[1] == ICL_EPISODES.length
    assert bool((first.candidates == first.targets[:, None]).any(dim=1).all())


@every_episode_case
def test_an_episode_batch_equals_its_episodes_one_at_a_time(case: EpisodeCase):
    model, x = case.build().eval(), case.inputs()
    with torch.no_grad():
        logits = model.query_logits(x.episodes)
        single = torch.cat([model.query_logits(row[None]) for row in x.episodes])
    torch.testing.assert_close(logits, single, atol=ATOL, rtol=0)
    best, scores, free = model.predict(x.episodes, x.candidates)
    rows = [model.predict(x.episodes[i : i + 1], x.candidates[i : i + 1]) for i in range(4)]
    torch.testing.assert_close(scores, torch.cat([r[1] for r in rows]), atol=ATOL, rtol=0)
    assert torch.equal(best, torch.cat([r[0] for r in rows]))
    assert torch.equal(free, torch.cat([r[2] for r in rows]))


@every_episode_case
def test_episode_scores_are_the_query_label_log_likelihoods(case: EpisodeCase):
    model, x = case.build().eval(), case.inputs()
    best, scores, free = model.predict(x.episodes, x.candidates)
    with torch.no_grad():
        logprobs = torch.log_softmax(model.query_logits(x.episodes)[:, NUM_SPECIALS:], dim=-1)
    torch.testing.assert_close(scores, logprobs.gather(1, x.candidates - NUM_SPECIALS))
    assert torch.equal(best, scores.argmax(-1))
    assert torch.equal(free, logprobs.argmax(-1) + NUM_SPECIALS)
    with torch.no_grad():
        for i in range(len(x.targets)):
            loss = model(x.episodes[i : i + 1], x.targets[i : i + 1])["loss"]
            target_logprob = logprobs[i, x.targets[i] - NUM_SPECIALS]
            assert math.isclose(-float(loss), float(target_logprob), abs_tol=ATOL)


# ---- a bfloat16 backbone ------------------------------------------------------------------
BF16_TOLERANCE = 0.05  # |bf16 - fp32| <= 0.05 + 0.05 |fp32| on every output (8-bit mantissa)


@every_method
def test_bf16_backbone_keeps_fp32_training_and_outputs_near_fp32(case: ContractCase | EpisodeCase):
    """A bf16 backbone (weights and matmuls) under fp32 prompts: the trainable state and its
    gradients stay fp32, the backbone stays frozen in bf16, outputs are fp32 and near fp32's."""
    x = case.inputs()
    expected = case.outputs(case.build().eval(), x)
    model = case.build().set_backbone_dtype(torch.bfloat16)
    for name, p in model.backbone.named_parameters():  # norms stay fp32
        assert p.dtype == (torch.float32 if "norm" in name else torch.bfloat16), name
    backbone = {key: value.clone() for key, value in model.backbone.state_dict().items()}
    model.train()
    case.loss(model, x).backward()
    for name, p in _trainable(model).items():
        assert p.dtype == torch.float32 and p.grad.dtype == torch.float32, name
        assert bool(p.grad.abs().sum() > 0), name
    torch.optim.Adam(_trainable(model).values(), lr=1.0).step()
    assert all(torch.equal(v, backbone[k]) for k, v in model.backbone.state_dict().items())
    got = case.outputs(case.build().set_backbone_dtype(torch.bfloat16).eval(), x)
    for bf16, fp32 in zip(got, expected, strict=True):
        assert bf16.dtype == fp32.dtype
        torch.testing.assert_close(bf16, fp32, atol=BF16_TOLERANCE, rtol=BF16_TOLERANCE)
