"""The one training loop: steps, clipping, the best validation epoch, and a resumable state
file that is written atomically and read weights-only."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from espnet2_speechprompt.errors import SpeechPromptError
from espnet2_speechprompt.safe_load import load_torch_file
from espnet2_speechprompt.training import History, reshuffled, train

Example = tuple[torch.Tensor, torch.Tensor]


def regression_data(n: int = 24, seed: int = 0) -> list[Example]:
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, 3, generator=gen)
    targets = inputs @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(n, generator=gen)
    return list(zip(inputs, targets, strict=True))


def model_and_optimizer(seed: int = 0) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.3), nn.Linear(8, 1))
    return model, torch.optim.Adam(model.parameters(), lr=1e-2)


def squared_error(model: nn.Module):
    def loss(batch: list[Example]) -> tuple[torch.Tensor, int]:
        inputs = torch.stack([x for x, _ in batch])
        targets = torch.stack([y for _, y in batch])
        return ((model(inputs).squeeze(-1) - targets) ** 2).mean(), len(batch)

    return loss


def fresh_order(rng: random.Random) -> list[list[Example]]:
    """Batches that depend on nothing but ``rng`` (what an exact resume needs)."""
    data = regression_data()
    rng.shuffle(data)
    return [data[i : i + 5] for i in range(0, len(data), 5)]


def run(epochs: int, state_path=None, **options) -> tuple[nn.Module, History]:
    model, optimizer = model_and_optimizer()
    batches = fresh_order
    history = train(
        model, batches, squared_error(model), optimizer, epochs, state_path=state_path, **options
    )
    return model, history


def test_every_step_is_recorded_and_the_model_ends_in_eval_mode():
    model, history = run(3)
    assert len(history.step_losses) == 3 * 5  # 24 examples in batches of 5
    assert len(history.train_losses) == len(history.valid_losses) == 3
    assert history.valid_losses == history.train_losses  # no validation: the training loss
    assert history.train_losses[-1] < history.train_losses[0]
    assert not model.training


def test_the_epoch_loss_weighs_batches_by_their_items():
    model = nn.Linear(1, 1)
    sizes = iter([3, 1])
    losses = iter([torch.tensor(1.0), torch.tensor(5.0)])

    def loss(_batch) -> tuple[torch.Tensor, int]:
        return next(losses) + 0 * model.weight.sum(), next(sizes)

    history = train(model, lambda rng: [0, 1], loss, torch.optim.SGD(model.parameters()), 1)
    assert history.train_losses == [pytest.approx((3 * 1.0 + 1 * 5.0) / 4)]


def test_keep_best_restores_the_epoch_of_lowest_validation_loss():
    model, optimizer = model_and_optimizer()
    scores, weights = iter([3.0, 1.0, 2.0]), []

    def valid_loss() -> float:
        weights.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(scores)

    batches = reshuffled(regression_data(), 5)
    history = train(
        model, batches, squared_error(model), optimizer, 3, valid_loss=valid_loss, keep_best=True
    )
    assert history.best_loss == 1.0
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[1][key])
        assert not torch.equal(value, weights[2][key])


def test_clip_norm_bounds_every_update():
    model = nn.Linear(3, 1)
    before = torch.cat([p.detach().clone().flatten() for p in model.parameters()])
    data = [(torch.full((3,), 100.0), torch.tensor(-100.0))]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    train(model, lambda rng: [data], squared_error(model), optimizer, 1, clip_norm=1e-3)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert float((after - before).norm()) == pytest.approx(1e-3, rel=1e-4)


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path):
    straight, _ = run(4, tmp_path / "a.pt")
    run(2, tmp_path / "b.pt")
    resumed, history = run(4, tmp_path / "b.pt")
    assert len(history.train_losses) == 2  # epochs 3 and 4 only
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_the_state_file_is_weights_only(tmp_path):
    run(1, tmp_path / "state.pt", keep_best=True)
    state = load_torch_file(tmp_path / "state.pt")  # no allowed globals: tensors and plain values
    assert state["epoch"] == 1 and isinstance(state["best_state"], dict)
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]  # no temporary left behind


def test_a_state_file_of_another_run_is_refused_in_one_line(tmp_path):
    path = tmp_path / "state.pt"
    torch.save({"epoch": 1, "model": {"weight": torch.zeros(2)}}, path)
    with pytest.raises(SpeechPromptError) as info:
        run(2, path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a training state this run can resume")
    assert "delete it to start the pre-training over" in message and "\n" not in message


def test_reshuffled_carries_the_order_over_and_covers_every_item():
    batches = reshuffled(list(range(10)), 4)
    rng = random.Random(0)
    first, second = list(batches(rng)), list(batches(rng))
    assert [len(b) for b in first] == [4, 4, 2]
    assert sorted(sum(first, [])) == sorted(sum(second, [])) == list(range(10))
    expected = list(range(10))
    check = random.Random(0)
    check.shuffle(expected)
    check.shuffle(expected)  # the second epoch shuffles the first epoch's order
    assert sum(second, []) == expected
