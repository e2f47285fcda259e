"""Layer math against an independent reference, positions, and the key/value cache."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from espnet2_speechprompt.speechlm.layers import (
    PromptVectors,
    SinusoidalPositions,
    TransformerLayer,
    make_positions,
)
from espnet2_speechprompt.speechlm.transformer_lm import DecodingState
from test.factories.encdec import tiny_encdec
from test.factories.unit_lm import tiny_decoder


@pytest.mark.parametrize("norm_first", [False, True])
def test_layer_matches_torch_reference(norm_first):
    """Our layer (no prefix) equals torch.nn.TransformerEncoderLayer with the same weights."""
    ours = TransformerLayer(16, 32, 4, normalize_before=norm_first, activation="gelu").eval()
    ref = nn.TransformerEncoderLayer(
        16, 4, 32, dropout=0.0, activation="gelu", batch_first=True, norm_first=norm_first
    ).eval()
    attn = ours.self_attn
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(
            torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight])
        )
        ref.self_attn.in_proj_bias.copy_(
            torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias])
        )
        ref.self_attn.out_proj.load_state_dict(attn.out_proj.state_dict())
        for mine, theirs in [("fc1", "linear1"), ("fc2", "linear2")]:
            getattr(ref, theirs).load_state_dict(getattr(ours, mine).state_dict())
        ref.norm1.load_state_dict(ours.self_attn_layer_norm.state_dict())
        ref.norm2.load_state_dict(ours.final_layer_norm.state_dict())
    x = torch.randn(2, 5, 16)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    torch.testing.assert_close(ours(x, causal), ref(x, src_mask=~causal), atol=1e-5, rtol=0)


def test_prefix_equals_extra_keys():
    """A deep-prompt prefix acts as extra leading keys/values through the frozen projections."""
    layer = TransformerLayer(16, 32, 2, normalize_before=False).eval()
    attn = layer.self_attn
    x, pk, pv = torch.randn(1, 3, 16), torch.randn(2, 16), torch.randn(2, 16)
    got = attn(x, prefix=(pk, pv))
    q = attn.q_proj(x) * attn.scaling
    k = torch.cat([attn.k_proj(pk)[None], attn.k_proj(x)], 1)
    v = torch.cat([attn.v_proj(pv)[None], attn.v_proj(x)], 1)
    heads = lambda t: t.view(1, -1, 2, 8).transpose(1, 2)  # noqa: E731
    probs = torch.softmax(heads(q) @ heads(k).transpose(-1, -2), dim=-1)
    expected = attn.out_proj((probs @ heads(v)).transpose(1, 2).reshape(1, 3, 16))
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_sinusoidal_table_layout():
    table = SinusoidalPositions(8, padding_idx=1)(torch.tensor([[1, 2, 3]]))[0]
    assert torch.all(table[0] == 0)  # the pad row
    freq = torch.exp(torch.arange(4.0) * -(torch.log(torch.tensor(10000.0)) / 3))
    torch.testing.assert_close(table[1], torch.cat([torch.sin(2 * freq), torch.cos(2 * freq)]))


def test_positions_skip_left_padding():
    tokens = torch.tensor([[1, 1, 2, 7, 8], [2, 7, 8, 9, 1]])
    assert make_positions(tokens, 1).tolist() == [[1, 1, 2, 3, 4], [2, 3, 4, 5, 1]]


def test_left_padding_does_not_change_a_row():
    model = tiny_decoder()
    row = torch.tensor([[2, 5, 6, 7]])
    padded = torch.tensor([[1, 1, 2, 5, 6, 7], [2, 8, 9, 10, 11, 12]])
    torch.testing.assert_close(model(padded)[:1, 2:], model(row), atol=1e-6, rtol=0)


def test_cache_equals_full_recompute_with_prompts():
    model = tiny_decoder()
    tokens = torch.randint(4, 20, (3, 9))
    tokens[0, :3] = 1  # left padding
    prompts = PromptVectors(torch.randn(3, 16), torch.randn(2, 2, 4, 16))
    full = model(tokens, prompts=prompts)
    state = DecodingState()
    pieces = [model(tokens[:, :5], prompts=prompts, state=state)]
    for t in range(5, 9):  # prompts are ignored once cached
        pieces.append(model(tokens[:, t : t + 1], prompts=prompts, state=state))
    torch.testing.assert_close(torch.cat(pieces, 1), full, atol=1e-5, rtol=0)
    assert state.layers[0].self_kv[0].shape[2] == 4 + 3 + 9  # prefix + prompt + tokens


def test_select_repeats_rows():
    model = tiny_decoder()
    tokens = torch.randint(4, 20, (2, 5))
    state = DecodingState()
    model(tokens[:, :3], state=state)
    state.select(torch.tensor([1, 1, 0]))
    step = model(tokens[[1, 1, 0], 3:], state=state)
    torch.testing.assert_close(step, model(tokens[[1, 1, 0]])[:, 3:], atol=1e-5, rtol=0)


def test_select_moves_the_encoder_output_with_the_rows():
    """Rows taken from other sources get those sources' encoder output and cross-attention
    keys/values; a reordering that keeps every row on its source leaves both untouched."""
    model = tiny_encdec(20, dim=16, heads=2).eval()
    src = torch.randint(4, 20, (2, 6))
    src[1, 4:] = 1
    prev = torch.randint(4, 20, (3, 4))
    prev[:, 0] = 2
    with torch.no_grad():
        state = DecodingState(model.encode(src))
        steps = [model.decoder(prev[:2, :1], state=state)]
        state.select(torch.tensor([1, 1, 0]))  # rows change source
        cross, encoder_out = state.layers[0].cross_kv, state.encoder_out
        steps.append(model.decoder(prev[:, 1:2], state=state))
        state.select(torch.tensor([1, 0, 2]))  # beams of source 1 swap: sources stay [1, 1, 0]
        assert state.layers[0].cross_kv is cross and state.encoder_out is encoder_out
        order = prev[[1, 0, 2]]
        steps.append(model.decoder(order[:, 2:], state=state))
        expected = model(src[[1, 1, 0]], None, torch.cat([prev[[1, 1, 0], :1], order[:, 1:]], 1))
    assert encoder_out.states.shape[0] == 3
    torch.testing.assert_close(steps[0], model(src, None, prev[:2, :1]), atol=1e-5, rtol=0)
    torch.testing.assert_close(steps[1], expected[[1, 0, 2], 1:2], atol=1e-5, rtol=0)
    torch.testing.assert_close(steps[2], expected[:, 2:], atol=1e-5, rtol=0)


@pytest.mark.parametrize("pre_ln", [True, False])
def test_keep_last_trims_the_top_layer_only(pre_ln):
    model = tiny_decoder(normalize_before=pre_ln)
    tokens = torch.randint(4, 20, (3, 9))
    tokens[0, :3] = 1
    prompts = PromptVectors(torch.randn(3, 16), torch.randn(2, 2, 4, 16))
    full = model(tokens, prompts=prompts)
    tail = model(tokens, prompts=prompts, keep_last=4)
    torch.testing.assert_close(tail, full[:, -4:], atol=1e-5, rtol=0)
