"""Rule-based label->unit mappings, the learnable map, and the explanation helper."""

from __future__ import annotations

import pytest
import torch

from espnet2_speechprompt.verbalizer.fixed import (
    FixedVerbalizer,
    VerbalizerError,
    frequency_mapping,
    identity_mapping,
    random_mapping,
)
from espnet2_speechprompt.verbalizer.learnable import LearnableVerbalizer
from espnet2_speechprompt.vocab import Dictionary


def test_frequency_mapping_pairs_ranks():
    # label 2 is most frequent -> most frequent unit (token 9); ties broken by index
    assert frequency_mapping([5, 1, 9], {7: 3, 9: 50, 4: 10, 11: 1}) == [4, 7, 9]


def test_random_mapping_is_seeded_and_distinct():
    units = list(range(4, 104))
    first = random_mapping(12, units, seed=3)
    assert first == random_mapping(12, units, seed=3) != random_mapping(12, units, seed=4)
    assert len(set(first)) == 12 and set(first) <= set(units)


def test_identity_mapping_reads_the_dictionary_not_index_plus_four():
    vocab = Dictionary(["61", "97", "8"])  # cpc100-style frequency order
    assert identity_mapping(["8", "61"], vocab) == [6, 4]
    with pytest.raises(VerbalizerError, match="label '5' is not a symbol"):
        identity_mapping(["5"], vocab)


def test_too_few_units_for_a_rule_based_verbalizer():
    with pytest.raises(VerbalizerError, match="3 labels, 2 units\\): use the learnable"):
        random_mapping(3, [4, 5])
    with pytest.raises(VerbalizerError, match="distinct token"):
        FixedVerbalizer([4, 4])


def test_fixed_verbalizer_gathers_specials_then_labels():
    logits = torch.arange(10.0)[None]
    assert FixedVerbalizer([7, 5]).forward(logits).tolist() == [[0, 1, 2, 3, 7, 5]]


def test_learnable_starts_as_the_fixed_mapping_and_explains():
    learn = LearnableVerbalizer(10, 2, init_tokens=[7, 5])
    logits = torch.randn(3, 10)
    torch.testing.assert_close(learn(logits), FixedVerbalizer([7, 5])(logits))
    symbols = [f"s{i}" for i in range(10)]
    explained = learn.explain(top_k=1, symbols=symbols)
    assert [row[0] for row in explained] == [("s7", 1.0), ("s5", 1.0)]
    assert learn.label_tokens().tolist() == [7, 5]
    table = learn.embedding_table(torch.eye(10))
    assert table.shape == (6, 10) and table[4].argmax() == 7
