"""How in-context learning prompts start: the separator as the unit embedding under which the
untrained model does best on training episodes (``separator_init: unit``), the deep prompt's
own init scale, and one-line errors for settings that cannot work."""

from __future__ import annotations

import pytest
import torch

from espnet2_speechprompt.api.config import ConfigError, check_settings
from espnet2_speechprompt.errors import SpeechPromptError
from espnet2_speechprompt.prompt.prompts import PromptConfig, Prompts
from espnet2_speechprompt.vocab import BOS, NUM_SPECIALS
from test.factories.icl import ICL_VOCAB, tiny_icl

pytestmark = pytest.mark.usefixtures("one_thread")


def random_episodes(count: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Episodes of 3 demonstrations (4 units, <sep>, label) and a query, random unit tokens."""
    g = torch.Generator().manual_seed(seed)
    units = torch.randint(NUM_SPECIALS, len(ICL_VOCAB), (count, 4, 6), generator=g)
    units[:, :, 4] = BOS
    episodes = units.flatten(1)[:, :-1]  # the query's label left out
    return episodes, torch.randint(NUM_SPECIALS, len(ICL_VOCAB), (count,), generator=g)


def loss_with_separator(model, vector: torch.Tensor, episodes, targets) -> float:
    with torch.no_grad():
        model.prompts.separator.copy_(vector)
        return model(episodes, targets)["loss"].item()


def test_the_separator_starts_as_the_unit_embedding_with_the_lowest_loss():
    model = tiny_icl(seed=3).train()
    episodes, targets = random_episodes()
    units = model.label_tokens
    embeds = model.backbone.embed(units[None])[0].detach()
    probe = tiny_icl(seed=3)
    losses = [loss_with_separator(probe, e, episodes, targets) for e in embeds]
    assert max(losses) - min(losses) > 1e-3  # the choice matters on this model
    token = model.separator_from_units(episodes, targets, batch_size=3)
    assert token == int(units[losses.index(min(losses))])
    torch.testing.assert_close(model.prompts.separator.detach(), embeds[losses.index(min(losses))])
    assert model.training  # the mode it was in
    other = tiny_icl(seed=3)
    assert other.separator_from_units(episodes, targets, batch_size=64) == token


def test_the_search_needs_a_separator():
    model = tiny_icl()
    model.prompts.separator = None
    with pytest.raises(SpeechPromptError, match="needs a trainable separator"):
        model.separator_from_units(*random_episodes())


def test_the_deep_prompt_has_its_own_init_scale():
    torch.manual_seed(0)
    config = PromptConfig(input_length=64, deep_length=64, deep_init_std=0.01)
    prompts = Prompts(config, num_layers=2, dim=32)
    assert prompts.deep_prompt.std().item() == pytest.approx(0.01, rel=0.1)
    assert prompts.input_prompt.std().item() == pytest.approx(1.0, rel=0.1)
    default = Prompts(PromptConfig(deep_length=64), num_layers=2, dim=32)
    assert default.deep_prompt.std().item() == pytest.approx(1.0, rel=0.1)


def test_bad_separator_settings_are_one_line():
    with pytest.raises(SpeechPromptError, match="separator_init must be one of random, unit"):
        PromptConfig(separator_init="zeros")
    with pytest.raises(SpeechPromptError, match="separator_init: unit needs separator: true"):
        PromptConfig(separator=False, separator_init="unit")
    with pytest.raises(SpeechPromptError, match="deep_init_std must be a number >= 0, not -0.1"):
        PromptConfig(deep_init_std=-0.1)
    config = {"backbone": "gslm", "verbalizer": "fixed", "prompt_conf": {"separator_init": "unit"}}
    with pytest.raises(ConfigError, match="in-context learning warm-up .* only"):
        check_settings(config)
