"""Monte Carlo dropout through a real trainer: only dropout samples, nothing else changes."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from strategy_helpers import make_trainer
from torch import nn
from torch.utils.data import TensorDataset

from energizer import ActiveDataModule
from energizer.errors import InvalidScoresError, MissingDropoutError
from energizer.query_strategies import BALDStrategy, BatchBALDStrategy, EntropyStrategy
from energizer.query_strategies.mc_dropout import (
    DROPOUT_TYPES,
    ConsistentDropoutMasks,
    dropout_only_train_mode,
    sample_logits,
)


class DropoutNet(pl.LightningModule):
    """Linear -> BatchNorm -> ReLU -> dropout -> Linear, with a choice of dropout layer."""

    def __init__(self, dropout: nn.Module | None = None, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        layers: list[nn.Module] = [nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU()]
        if dropout is not None:
            layers.append(dropout)
        layers.append(nn.Linear(16, 3))
        self.net = nn.Sequential(*layers)
        # Non-trivial running statistics, so an accidental training-mode pass shows.
        self.net[1].running_mean.uniform_(-1, 1)
        self.net[1].running_var.uniform_(0.5, 2)

    def forward(self, inputs):
        return self.net(inputs)


class ChannelDropoutNet(nn.Module):
    """A 1D convolution with channel dropout, for the Dropout1d/2d/3d kinds."""

    def __init__(self, dropout: nn.Module) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.dropout = dropout
        self.conv = nn.Conv1d(4, 4, kernel_size=1)
        self.head = nn.Linear(4 * 6, 3)

    def forward(self, inputs):
        values = self.conv(inputs.view(-1, 4, 6))
        if isinstance(self.dropout, nn.Dropout2d):
            values = self.dropout(values.unsqueeze(-1)).squeeze(-1)
        elif isinstance(self.dropout, nn.Dropout3d):
            values = self.dropout(values.unsqueeze(-1).unsqueeze(-1)).squeeze(-1).squeeze(-1)
        else:
            values = self.dropout(values)
        return self.head(values.flatten(1))


def pool_dataset(num_items: int = 40, features: int = 6) -> TensorDataset:
    generator = torch.Generator().manual_seed(1)
    return TensorDataset(torch.randn(num_items, features, generator=generator), torch.zeros(num_items, dtype=torch.int64))


def bald_scores(strategy, eval_batch_size: int = 8, num_items: int = 40, features: int = 6) -> np.ndarray:
    """Score the whole pool with the strategy through Trainer.predict; scores by dataset id."""
    datamodule = ActiveDataModule(pool_dataset(num_items, features), eval_batch_size=eval_batch_size)
    strategy.configure_pool(target_key=None, round_index=0)
    make_trainer().predict(strategy, dataloaders=datamodule.pool_dataloader(), return_predictions=False)
    return strategy.collected_scores(datamodule.pool_ids)


def module_modes(model: nn.Module) -> list[bool]:
    return [module.training for module in model.modules()]


# --------------------------------------------------------------- sampling


@pytest.mark.parametrize("consistent", [False, True], ids=["independent", "consistent"])
def test_samples_differ(consistent):
    strategy = BALDStrategy(DropoutNet(nn.Dropout(0.5)), num_samples=8, consistent_masks=consistent, seed=0)
    strategy.eval()
    inputs = pool_dataset().tensors[0][:5]

    logits = strategy.compute_mc_logits(inputs)

    assert logits.shape == (5, 8, 3)
    assert not torch.allclose(logits[:, 0], logits[:, 1])


@pytest.mark.parametrize(
    "dropout",
    [nn.Dropout(0.5), nn.AlphaDropout(0.5), nn.Dropout1d(0.5), nn.Dropout2d(0.5), nn.Dropout3d(0.5), nn.FeatureAlphaDropout(0.5)],
    ids=lambda module: type(module).__name__,
)
@pytest.mark.parametrize("consistent", [False, True], ids=["independent", "consistent"])
def test_every_dropout_kind_samples(dropout, consistent):
    model = ChannelDropoutNet(dropout) if not isinstance(dropout, (nn.Dropout, nn.AlphaDropout)) else DropoutNet(dropout)
    strategy = BALDStrategy(model, num_samples=6, consistent_masks=consistent, seed=0)
    strategy.eval()
    inputs = pool_dataset(num_items=10, features=24 if isinstance(model, ChannelDropoutNet) else 6).tensors[0]

    logits = strategy.compute_mc_logits(inputs)

    assert torch.isfinite(logits).all()
    assert not torch.allclose(logits[:, 0], logits[:, 1])


def test_dropout_types_cover_torch():
    assert set(DROPOUT_TYPES) == {
        nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout
    }


@pytest.mark.parametrize("consistent", [False, True], ids=["independent", "consistent"])
def test_batchnorm_statistics_unchanged(consistent):
    model = DropoutNet(nn.Dropout(0.5))
    before = {name: value.clone() for name, value in model.state_dict().items()}

    bald_scores(BALDStrategy(model, num_samples=5, consistent_masks=consistent, seed=0))

    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("consistent", [False, True], ids=["independent", "consistent"])
def test_modes_restored_after_scoring(mode, consistent):
    strategy = BALDStrategy(DropoutNet(nn.Dropout(0.5)), num_samples=4, consistent_masks=consistent, seed=0)
    strategy.train(mode == "train")
    before = module_modes(strategy)

    bald_scores(strategy)

    assert module_modes(strategy) == before


class FailingHead(nn.Module):
    def forward(self, inputs):
        raise RuntimeError("head failed")


@pytest.mark.parametrize("consistent", [False, True], ids=["independent", "consistent"])
def test_modes_restored_when_model_raises(consistent):
    model = DropoutNet(nn.Dropout(0.5))
    model.net.append(FailingHead())
    strategy = BALDStrategy(model, num_samples=4, consistent_masks=consistent, seed=0)
    strategy.eval()
    model.net[1].train()
    before = module_modes(strategy)

    with pytest.raises(RuntimeError, match="head failed"):
        strategy.compute_mc_logits(pool_dataset().tensors[0][:4])

    assert module_modes(strategy) == before
    assert all(not module._forward_hooks for module in strategy.modules())


def test_dropout_only_mode_leaves_batchnorm_eval():
    model = DropoutNet(nn.Dropout(0.5))
    model.train()

    with dropout_only_train_mode(model):
        assert model.net[3].training
        assert not model.net[1].training
        assert not model.training

    assert all(module_modes(model))


# -------------------------------------------------------- consistent masks


@pytest.mark.parametrize("eval_batch_size", [1, 7, 40])
def test_consistent_scores_ignore_batch_size(eval_batch_size):
    reference = bald_scores(BALDStrategy(DropoutNet(nn.Dropout(0.5)), num_samples=6, consistent_masks=True, seed=3), 8)

    scores = bald_scores(
        BALDStrategy(DropoutNet(nn.Dropout(0.5)), num_samples=6, consistent_masks=True, seed=3), eval_batch_size
    )

    np.testing.assert_allclose(scores, reference, rtol=1e-5, atol=1e-7)


def test_consistent_stacked_equals_looped():
    inputs = pool_dataset().tensors[0][:9]
    stacked = BALDStrategy(DropoutNet(nn.Dropout(0.5)), num_samples=5, consistent_masks=True, seed=2)
    looped = BALDStrategy(
        DropoutNet(nn.Dropout(0.5)), num_samples=5, consistent_masks=True, stack_samples=False, seed=2
    )
    stacked.eval()
    looped.eval()

    torch.testing.assert_close(stacked.compute_mc_logits(inputs), looped.compute_mc_logits(inputs))


def test_consistent_masks_share_items():
    # One item repeated: with shared masks every copy gets the same samples.
    model = DropoutNet(nn.Dropout(0.5)).eval()
    inputs = pool_dataset().tensors[0][:1].repeat(4, 1)
    with ConsistentDropoutMasks(model, seed=0) as masks:
        logits = sample_logits(model, inputs, 6, masks=masks)

    for row in range(1, 4):
        torch.testing.assert_close(logits[row], logits[0])


def test_consistent_masks_seeded_by_round():
    strategy = BALDStrategy(DropoutNet(nn.Dropout(0.5)), num_samples=6, consistent_masks=True, seed=0)
    strategy.eval()
    inputs = pool_dataset().tensors[0][:5]

    strategy.configure_pool(target_key=None, round_index=0)
    first = strategy.compute_mc_logits(inputs)
    again = strategy.compute_mc_logits(inputs)
    strategy.configure_pool(target_key=None, round_index=1)
    next_round = strategy.compute_mc_logits(inputs)

    torch.testing.assert_close(first, again)
    assert not torch.allclose(first, next_round)


def test_masks_scale_kept_units():
    # Inverted dropout: the mean over many masks of a kept-and-scaled unit is 1.
    model = nn.Sequential(nn.Dropout(0.25))
    with ConsistentDropoutMasks(model, seed=0) as masks:
        logits = sample_logits(lambda inputs: model(inputs), torch.ones(1, 500), 40, masks=masks)

    assert logits.unique().tolist() == pytest.approx([0.0, 1 / 0.75])
    assert logits.mean().item() == pytest.approx(1.0, abs=0.02)


# ------------------------------------------------------------------ errors


def test_model_without_dropout_raises():
    strategy = BALDStrategy(DropoutNet(dropout=None))
    datamodule = ActiveDataModule(pool_dataset(), initial_labels=5, seed=0)

    with pytest.raises(MissingDropoutError, match=r"BALDStrategy samples predictions with Monte Carlo dropout, but the model DropoutNet has no torch.nn dropout layer"):
        make_trainer().query(strategy, datamodule, 3)


def test_no_dropout_raises_before_training():
    model = DropoutNet(dropout=None)
    fits: list[int] = []
    model.on_fit_start = lambda: fits.append(1)
    datamodule = ActiveDataModule(pool_dataset(), initial_labels=5, seed=0)

    with pytest.raises(MissingDropoutError):
        make_trainer().active_fit(BatchBALDStrategy(model), datamodule, query_size=3)

    assert fits == []


def test_zero_dropout_warns():
    strategy = BALDStrategy(DropoutNet(nn.Dropout(0.0)))
    datamodule = ActiveDataModule(pool_dataset(), initial_labels=5, seed=0)

    with pytest.warns(UserWarning, match="has p=0, so the Monte Carlo samples of BALDStrategy are identical"):
        make_trainer().query(strategy, datamodule, 3)


@pytest.mark.parametrize("num_samples", [1, 0, 2.5, True])
def test_invalid_num_samples_raise(num_samples):
    with pytest.raises(ValueError, match=r"Invalid `num_samples`: expected an integer >= 2"):
        BALDStrategy(DropoutNet(nn.Dropout(0.5)), num_samples=num_samples)


def test_deterministic_strategy_needs_no_dropout():
    datamodule = ActiveDataModule(pool_dataset(), initial_labels=5, seed=0)

    ids = make_trainer().query(EntropyStrategy(DropoutNet(dropout=None)), datamodule, 3)

    assert ids.shape == (3,)


class SequenceFirstNet(nn.Module):
    """Dropout on a (length, batch, features) activation, as in seq-first transformer layers."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Linear(2, 8)
        self.dropout = nn.Dropout(0.5)
        self.head = nn.Linear(3 * 8, 3)

    def forward(self, inputs):
        sequence = self.embed(inputs.view(-1, 3, 2)).transpose(0, 1)
        dropped = self.dropout(sequence).transpose(0, 1)
        return self.head(dropped.flatten(1))


@pytest.mark.parametrize("stack_samples", [True, False], ids=["stacked", "looped"])
@pytest.mark.parametrize("eval_batch_size", [1, 7, 40])
def test_sequence_first_masks_ignore_batch_size(stack_samples, eval_batch_size):
    def scores(batch_size):
        strategy = BALDStrategy(SequenceFirstNet(), num_samples=6, stack_samples=stack_samples, seed=3)
        return bald_scores(strategy, batch_size)

    # Batch sizes that equal no other dim of the activation (3 x B x 8).
    np.testing.assert_allclose(scores(eval_batch_size), scores(9), rtol=1e-5, atol=1e-7)


def test_zero_keep_dropout_warns():
    strategy = BALDStrategy(DropoutNet(nn.Dropout(1.0)))
    datamodule = ActiveDataModule(pool_dataset(), initial_labels=5, seed=0)

    with pytest.warns(UserWarning, match="has p=1, so it zeroes its input in every Monte Carlo sample"):
        make_trainer().query(strategy, datamodule, 3)


def test_ambiguous_batch_dim_raises():
    strategy = BALDStrategy(SequenceFirstNet(), num_samples=6, stack_samples=False, seed=3)

    with pytest.raises(InvalidScoresError, match=r"shape \(3, 8, 8\) has 2 dims of the batch's size 8. Pass consistent_masks=False"):
        bald_scores(strategy, 8)
