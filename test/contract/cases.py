"""The contract tester's registry: one ``ContractCase`` per backbone x prompt configuration x
verbalizer, each a prompted model on random tiny weights and the inputs every check runs it on.
Combinations the library refuses by design are ``RefusedCase`` entries: the tester asserts the
refusal instead.

A new method joins the tester by adding entries: a ``Backbone`` (how to build it, which sources
it reads), a prompt configuration, a verbalizer setting, or a case with its own ``build``/
``inputs``/``loss``/``outputs`` (as ``EpisodeCase`` does for in-context learning).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from espnet2_speechprompt.api.builder import Prompted
from espnet2_speechprompt.api.inputs import SpeechPromptDataError
from espnet2_speechprompt.data.episodes import Example, TaskPool, warmup_episodes
from espnet2_speechprompt.prompt.builders import build_prompted
from espnet2_speechprompt.prompt.icl import (
    EpisodeConfig,
    PromptedICL,
    episode_tokens,
    label_mapping,
)
from espnet2_speechprompt.prompt.prompts import PromptConfig
from espnet2_speechprompt.verbalizer.builders import VERBALIZERS, TrainStatistics
from espnet2_speechprompt.vocab import NUM_SPECIALS, PAD, Dictionary
from test.factories.encdec import tiny_encdec, tiny_wav2seq
from test.factories.unit_lm import tiny_decoder

VOCAB = Dictionary(str(unit) for unit in range(16))  # "0".."15" at indices 4..19
LABELS = ["3", "7", "11", "12"]  # unit symbols, so the identity verbalizer applies as well
# label-space ids (4 + label index) right-padded: multi-token label sequences
TARGETS = torch.tensor([[4, 5, 6], [6, PAD, PAD], [5, 7, PAD], [7, 7, 4]])
CANDIDATES = torch.tensor([[4, PAD, PAD], [5, 6, PAD], [6, 4, 5], [7, PAD, PAD]])


@dataclass(frozen=True)
class ContractInputs:
    """Right-padded sources of different lengths (none as long as the batch), label-space
    targets for ``forward``/``sequence_logits`` and candidate label sequences for scoring."""

    source: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    label_lengths: torch.Tensor
    candidates: torch.Tensor

    def train_statistics(self) -> TrainStatistics:
        """Label and source-unit counts over these inputs (what the frequency verbalizer reads)."""
        labels = [[t - NUM_SPECIALS for t in row if t != PAD] for row in self.labels.tolist()]
        units = [
            row[:n] for row, n in zip(self.source.tolist(), self.lengths.tolist(), strict=True)
        ]
        return TrainStatistics.from_sequences(labels, units, len(LABELS))


def _inputs(source: torch.Tensor, lengths: torch.Tensor, pad_value: float) -> ContractInputs:
    steps = torch.arange(source.shape[1])
    source = source.masked_fill(steps[None, :] >= lengths[:, None], pad_value)
    return ContractInputs(source, lengths, TARGETS, TARGETS.ne(PAD).sum(1), CANDIDATES)


def unit_inputs() -> ContractInputs:
    """Units (backbone ids of ``VOCAB``) of 7, 3, 5 and 1 steps in 8 columns."""
    generator = torch.Generator().manual_seed(1)
    units = torch.randint(NUM_SPECIALS, len(VOCAB), (4, 8), generator=generator)
    return _inputs(units, torch.tensor([7, 3, 5, 1]), PAD)


def speech_inputs() -> ContractInputs:
    """16 kHz waveforms of 9, 5, 6 and 1 HuBERT frames (1 frame: 400 samples, then 320 each)."""
    generator = torch.Generator().manual_seed(1)
    wav = torch.randn(4, 3000, generator=generator)
    return _inputs(wav, torch.tensor([2960, 1700, 2000, 500]), 0.0)


@dataclass(frozen=True)
class Backbone:
    """A tiny backbone kind: ``make`` builds it (random weights, the same every call), the
    name it has in the backbone registry, what it reads and its sources."""

    name: str
    make: Callable[[], nn.Module]
    input: str
    inputs: Callable[[], ContractInputs]
    encoder_decoder: bool


def _unit_mbart() -> nn.Module:
    return tiny_encdec(len(VOCAB), dim=16, heads=2, encoder_layers=3).eval()


# encoder and decoder differ in depth (and Wav2Seq's in width: 16 vs 24), so that a prompt
# sized by the wrong side fails
BACKBONES = [
    Backbone("gslm", lambda: tiny_decoder(len(VOCAB)), "units", unit_inputs, False),
    Backbone("unit_mbart", _unit_mbart, "units", unit_inputs, True),
    Backbone(
        "wav2seq", lambda: tiny_wav2seq(len(VOCAB), decoder_dim=24), "speech", speech_inputs, True
    ),
]

# decoder-only: input prompt, deep prompt or both, each with and without the separator
DECODER_ONLY_PROMPTS = {
    f"{name}{'+sep' if separator else ''}": PromptConfig(
        input_length=input_length, deep_length=deep_length, separator=separator, dropout=0.1
    )
    for name, input_length, deep_length in [("input", 3, 0), ("deep", 0, 2), ("input+deep", 3, 2)]
    for separator in (False, True)
}
# encoder-decoder: encoder input prompt, encoder deep, decoder deep, both deep at one length
# (decoder_deep_length None: deep_length), all three
ENCODER_DECODER_PROMPTS = {
    name: PromptConfig(input_length, deep_length, False, 0.1, decoder_deep_length=decoder_deep)
    for name, input_length, deep_length, decoder_deep in [
        ("enc-input", 3, 0, 0),
        ("enc-deep", 0, 2, 0),
        ("dec-deep", 0, 0, 3),
        ("enc+dec-deep", 0, 2, None),
        ("all", 3, 2, 4),
    ]
}

# verbalizer name -> (registry name, verbalizer_conf) as a config would give them
VERBALIZER_SETTINGS = {
    "random": ("fixed", {"mode": "random", "seed": 3}),
    "frequency": ("fixed", {"mode": "frequency"}),
    "identity": ("fixed", {"mode": "identity"}),
    "learnable": ("learnable", {"mode": "random", "init": "fixed", "feedback": "soft"}),
    "learnable-argmax": ("learnable", {"init": "random", "feedback": "argmax"}),
}


def expected_trainable(backbone: Backbone, prompt: PromptConfig, verbalizer: str) -> set[str]:
    """The parameter names a configuration trains (and no others)."""
    if backbone.encoder_decoder:
        decoder_deep = prompt.deep_length
        if prompt.decoder_deep_length is not None:
            decoder_deep = prompt.decoder_deep_length
        wanted = {
            "encoder_prompts.input_prompt": prompt.input_length,
            "encoder_prompts.deep_prompt": prompt.deep_length,
            "decoder_prompts.deep_prompt": decoder_deep,
        }
    else:
        wanted = {
            "prompts.input_prompt": prompt.input_length,
            "prompts.deep_prompt": prompt.deep_length,
            "prompts.separator": prompt.separator,
        }
    if VERBALIZER_SETTINGS[verbalizer][0] == "learnable":
        wanted["verbalizer.linear.weight"] = True
    return {name for name, on in wanted.items() if on}


def perturb_trainable(model: nn.Module, seed: int, std: float = 0.1) -> None:
    """Seeded noise on every trainable parameter (a learnable verbalizer leaves its one-hot
    start), so that two seeds give two different trainable states."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(std * torch.randn(p.shape, generator=generator))


@dataclass(frozen=True)
class ContractCase:
    """One combination: builds its prompted model (the backbone always the same, the trainable
    state from ``seed``) and its inputs."""

    id: str
    backbone: Backbone
    prompt: PromptConfig
    verbalizer: str
    trainable: frozenset[str] = field(default_factory=frozenset)

    def inputs(self) -> ContractInputs:
        return self.backbone.inputs()

    def verbalizer_setting(self) -> tuple[str, dict]:
        name, conf = VERBALIZER_SETTINGS[self.verbalizer]
        return name, dict(conf)

    @staticmethod
    def loss(model: Prompted, x: ContractInputs) -> torch.Tensor:
        return model(x.source, x.lengths, x.labels, x.label_lengths)["loss"]

    @staticmethod
    def outputs(model: Prompted, x: ContractInputs) -> list[torch.Tensor]:
        with torch.no_grad():
            return [
                ContractCase.loss(model, x),
                model.sequence_logits(x.source, x.lengths, x.labels),
                model.score_candidates(x.source, x.lengths, x.candidates),
            ]

    def build(self, seed: int = 0, num_labels: int = len(LABELS)) -> Prompted:
        """The model; with ``num_labels``, a task of the first labels only (not frequency)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            backbone = self.backbone.make()
            torch.manual_seed(1000 + seed)
            name, conf = self.verbalizer_setting()
            spec = VERBALIZERS[name].from_conf(conf)
            stats = self.inputs().train_statistics() if num_labels == len(LABELS) else None
            verbalizer = spec.build(LABELS[:num_labels], VOCAB, stats)
            model = build_prompted(backbone, verbalizer, self.prompt)
        perturb_trainable(model, seed)
        return model


@dataclass(frozen=True)
class RefusedCase:
    """A combination the library refuses: building it from a task's options raises ``error``
    with a message matching ``match``."""

    id: str
    backbone: Backbone
    prompt: PromptConfig
    verbalizer: str
    error: type[Exception]
    match: str

    def options(self) -> dict:
        """The task options that ask for this combination."""
        name, conf = VERBALIZER_SETTINGS[self.verbalizer]
        return {
            "backbone": self.backbone.name,
            "backbone_conf": {"checkpoint": f"{self.backbone.name}/checkpoint.pt"},
            "verbalizer": name,
            "verbalizer_conf": dict(conf),
            "prompt_conf": asdict(self.prompt),
            "label_list": list(LABELS),
        }


def _refusal(backbone: Backbone, verbalizer: str) -> tuple[type[Exception], str] | None:
    """Why the library refuses a backbone x verbalizer pair, if it does."""
    if backbone.input == "speech" and verbalizer == "frequency":
        return SpeechPromptDataError, "frequency verbalizer counts training units"
    return None


def contract_matrix() -> tuple[list[ContractCase], list[RefusedCase]]:
    """Every backbone x its prompt configurations x every verbalizer."""
    cases, refused = [], []
    for backbone in BACKBONES:
        prompts = ENCODER_DECODER_PROMPTS if backbone.encoder_decoder else DECODER_ONLY_PROMPTS
        for prompt_name, prompt in prompts.items():
            for verbalizer in VERBALIZER_SETTINGS:
                case_id = f"{backbone.name}-{prompt_name}-{verbalizer}"
                refusal = _refusal(backbone, verbalizer)
                if refusal is not None:
                    refused.append(RefusedCase(case_id, backbone, prompt, verbalizer, *refusal))
                    continue
                trainable = frozenset(expected_trainable(backbone, prompt, verbalizer))
                cases.append(ContractCase(case_id, backbone, prompt, verbalizer, trainable))
    return cases, refused


CASES, REFUSED = contract_matrix()


# ---------------------------------------------------------------- in-context learning episodes
ICL_EPISODES = EpisodeConfig(num_demos=3, unit_length=5)
ICL_PROMPTS = {name: prompt for name, prompt in DECODER_ONLY_PROMPTS.items()}


@dataclass(frozen=True)
class EpisodeInputs:
    """Episodes ``[B, T]`` (backbone tokens, one length), the query labels' tokens ``[B]`` and
    each episode's demonstration label tokens ``[B, K]``."""

    episodes: torch.Tensor
    targets: torch.Tensor
    candidates: torch.Tensor


def episode_inputs(seed: int = 2) -> EpisodeInputs:
    """Four warm-up episodes over two tasks of random units (5 labels each, units of 2 to 8
    steps, so some are cut and some padded), labels mapped anew per episode."""
    rng = random.Random(seed)
    pools = [
        TaskPool(
            task,
            [
                Example(f"{task}{i}", tuple(rng.randrange(16) for _ in range(rng.randint(2, 8))),
                        f"c{i % 5}")
                for i in range(20)
            ],
        )
        for task in ("a", "b")
    ]  # fmt: skip
    rows, targets, candidates = [], [], []
    unit_tokens = list(range(NUM_SPECIALS, len(VOCAB)))
    for episode in warmup_episodes(pools, 4, ICL_EPISODES.num_demos, seed):
        mapping = label_mapping(episode.demo_labels(), unit_tokens, rng)
        demos = [([VOCAB.index(str(u)) for u in d.units], mapping[d.label]) for d in episode.demos]
        query = [VOCAB.index(str(u)) for u in episode.query.units]
        rows.append(episode_tokens(demos, query, ICL_EPISODES))
        targets.append(mapping[episode.query.label])
        candidates.append([mapping[label] for label in episode.demo_labels()])
    return EpisodeInputs(torch.tensor(rows), torch.tensor(targets), torch.tensor(candidates))


@dataclass(frozen=True)
class EpisodeCase:
    """In-context learning on the decoder-only backbone with one prompt configuration."""

    id: str
    prompt: PromptConfig
    trainable: frozenset[str]

    def inputs(self) -> EpisodeInputs:
        return episode_inputs()

    def build(self, seed: int = 0) -> PromptedICL:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            backbone = tiny_decoder(len(VOCAB))
            torch.manual_seed(1000 + seed)
            model = PromptedICL(backbone, range(NUM_SPECIALS, len(VOCAB)), self.prompt)
        perturb_trainable(model, seed)
        return model

    @staticmethod
    def loss(model: PromptedICL, x: EpisodeInputs) -> torch.Tensor:
        return model(x.episodes, x.targets)["loss"]

    @staticmethod
    def outputs(model: PromptedICL, x: EpisodeInputs) -> list[torch.Tensor]:
        with torch.no_grad():
            return [
                EpisodeCase.loss(model, x),
                model.query_logits(x.episodes),
                model.predict(x.episodes, x.candidates)[1],
            ]


ICL_CASES = [
    EpisodeCase(
        f"icl-{name}",
        prompt,
        frozenset(expected_trainable(BACKBONES[0], prompt, "random")),
    )
    for name, prompt in ICL_PROMPTS.items()
]
