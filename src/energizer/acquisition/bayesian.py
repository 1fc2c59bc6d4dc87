"""Bayesian acquisition scores computed from Monte Carlo samples of class logits.

Each function maps logits of shape ``(N, T, C)`` to scores of shape ``(N,)``: N items,
T Monte Carlo samples on dim 1 (such as T forward passes with dropout on), and C
classes on the last dim. A higher score means a more informative item, and entropies
are in nats. Float16 and bfloat16 logits are cast to float32 first, so scores are
float32 or float64, on the input's device. A logit of -inf marks a class with zero
probability in that sample, and a class may be -inf in some samples only.

The scores are the Monte Carlo estimates that Gal, Islam and Ghahramani use in "Deep
Bayesian Active Learning with Image Data" (ICML 2017, arXiv:1703.02910).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from energizer.acquisition._checks import check_mc_logits
from energizer.acquisition.uncertainty import _log_softmax


def predictive_entropy(logits: Tensor) -> Tensor:
    """Compute the entropy of the mean predictive distribution in nats.

    The mean predictive distribution is ``p̄(c) = (1/T) sum_t softmax(logits[:, t])(c)``
    and the score is ``H(p̄) = -sum_c p̄(c) ln p̄(c)``. It measures the total uncertainty,
    which is the sum of ``bald`` (model uncertainty) and ``expected_entropy`` (data
    uncertainty).

    Args:
        logits: Unnormalised log-probabilities of shape ``(N, T, C)``, with ``T >= 1``
            Monte Carlo samples on dim 1 and classes on the last dim. NaN and +inf are
            rejected, and -inf marks a class with zero probability in that sample.

    Returns:
        Entropy of shape ``(N,)``, in ``[0, ln C]`` up to rounding. It is ``ln C`` when
        ``p̄`` is uniform and 0 when every sample puts all mass on the same class.

    Raises:
        TypeError: ``logits`` is not a floating-point tensor.
        ValueError: ``logits`` is not 3-D, has no sample or no class, contains NaN or
            +inf, or has a sample with every logit equal to -inf.
    """
    logits = check_mc_logits(logits)
    return _predictive_entropy(_log_softmax(logits))


def expected_entropy(logits: Tensor) -> Tensor:
    """Compute the mean over the Monte Carlo samples of each sample's entropy in nats.

    The score is ``(1/T) sum_t H(softmax(logits[:, t]))``. It estimates the data
    (aleatoric) uncertainty, which more labels do not reduce.

    Args:
        logits: Unnormalised log-probabilities of shape ``(N, T, C)``, with ``T >= 1``
            Monte Carlo samples on dim 1 and classes on the last dim. NaN and +inf are
            rejected, and -inf marks a class with zero probability in that sample.

    Returns:
        Mean entropy of shape ``(N,)``, in ``[0, ln C]`` up to rounding. It is
        ``ln C`` when every sample is uniform and 0 when every sample puts all mass
        on one class, even if the samples pick different classes.

    Raises:
        TypeError: ``logits`` is not a floating-point tensor.
        ValueError: ``logits`` is not 3-D, has no sample or no class, contains NaN or
            +inf, or has a sample with every logit equal to -inf.
    """
    logits = check_mc_logits(logits)
    return _expected_entropy(_log_softmax(logits))


def bald(logits: Tensor) -> Tensor:
    """Compute the BALD score, the mutual information between label and model, in nats.

    The score is ``predictive_entropy(logits) - expected_entropy(logits)``, the Monte
    Carlo estimate of the mutual information between an item's label and the model
    parameters (Houlsby et al., "Bayesian Active Learning for Classification and
    Preference Learning", 2011). It is high when the samples are confident but
    disagree with each other.

    Args:
        logits: Unnormalised log-probabilities of shape ``(N, T, C)``, with ``T >= 1``
            Monte Carlo samples on dim 1 and classes on the last dim. NaN and +inf are
            rejected, and -inf marks a class with zero probability in that sample.

    Returns:
        Mutual information of shape ``(N,)``, in ``[0, min(ln C, ln T)]`` up to
        rounding on the upper bound. It is 0 up to rounding when all samples are
        equal, and exactly 0 for ``T = 1``. The mutual information is never negative,
        so a difference that rounds below 0 is returned as 0.

    Raises:
        TypeError: ``logits`` is not a floating-point tensor.
        ValueError: ``logits`` is not 3-D, has no sample or no class, contains NaN or
            +inf, or has a sample with every logit equal to -inf.
    """
    logits = check_mc_logits(logits)
    log_probs = _log_softmax(logits)
    mutual_information = _predictive_entropy(log_probs) - _expected_entropy(log_probs)
    return mutual_information.clamp(min=0.0)


def variation_ratios(logits: Tensor) -> Tensor:
    """Compute the variation ratio ``1 - m / T`` of the samples' predicted classes.

    Each sample predicts the argmax of its logits, and ``m`` is the number of samples
    that predict the modal (most frequent) class. When a sample's largest logits tie,
    it predicts the lowest of the tied class indices, so the score is deterministic.
    When several classes tie for the mode, the score is the same whichever of them is
    taken, because it depends only on ``m``.

    Args:
        logits: Unnormalised log-probabilities of shape ``(N, T, C)``, with ``T >= 1``
            Monte Carlo samples on dim 1 and classes on the last dim. NaN and +inf are
            rejected, and -inf marks a class with zero probability in that sample.

    Returns:
        Scores of shape ``(N,)`` in ``[0, 1 - ceil(T / C) / T]``, which is at most
        ``1 - 1/C`` and at most ``1 - 1/T``. The score is 0 when all samples predict
        the same class, so it is always 0 for ``T = 1``.

    Raises:
        TypeError: ``logits`` is not a floating-point tensor.
        ValueError: ``logits`` is not 3-D, has no sample or no class, contains NaN or
            +inf, or has a sample with every logit equal to -inf.
    """
    logits = check_mc_logits(logits)
    num_items, num_samples, num_classes = logits.shape

    # argmax returns the first index of the maximum, which is the lowest class index.
    predictions = logits.argmax(dim=-1)
    votes = torch.zeros(num_items, num_classes, dtype=torch.int64, device=logits.device)
    votes.scatter_add_(1, predictions, torch.ones_like(predictions))
    modal_votes = votes.amax(dim=-1)

    # The count of dissenting samples is an exact integer, so only the division rounds.
    return (num_samples - modal_votes).to(logits.dtype) / num_samples


def mean_std(logits: Tensor) -> Tensor:
    """Compute the mean over classes of the standard deviation of each class probability.

    For each class, the standard deviation is taken over the T samples of
    ``softmax(logits[:, t])(c)``. It is the population standard deviation, which
    divides by T and not by ``T - 1``, so ``T = 1`` gives 0 and not NaN. This is the
    "mean STD" score of Gal et al. (2017).

    Args:
        logits: Unnormalised log-probabilities of shape ``(N, T, C)``, with ``T >= 1``
            Monte Carlo samples on dim 1 and classes on the last dim. NaN and +inf are
            rejected, and -inf marks a class with zero probability in that sample.

    Returns:
        Scores of shape ``(N,)`` in ``[0, sqrt(C - 1) / C]`` up to rounding, so at most
        0.5, which is the bound for ``C = 2``. The upper bound is reached when T is a
        multiple of C and each class gets all the mass in ``T / C`` samples. The score
        is 0 up to rounding when all samples are equal. A class that is -inf in every
        sample still counts in the mean over C, with a standard deviation of 0.

    Raises:
        TypeError: ``logits`` is not a floating-point tensor.
        ValueError: ``logits`` is not 3-D, has no sample or no class, contains NaN or
            +inf, or has a sample with every logit equal to -inf.
    """
    logits = check_mc_logits(logits)
    probs = _log_softmax(logits).exp()
    # Written out instead of Tensor.std, which warns about zero degrees of freedom for
    # N = 0.
    deviations = probs - probs.mean(dim=1, keepdim=True)
    stds = deviations.square().mean(dim=1).sqrt()
    return stds.mean(dim=-1)


def _predictive_entropy(log_probs: Tensor) -> Tensor:
    log_mean_probs = _log_mean_probs(log_probs)
    mean_probs = log_mean_probs.exp()
    # A class with p̄ = 0 has log p̄ = -inf, and 0 * -inf is NaN, so select its 0 term.
    terms = torch.where(mean_probs > 0, mean_probs * log_mean_probs, 0.0)
    # Subtracting from 0.0 instead of negating returns +0.0, not -0.0, for certain items.
    return 0.0 - terms.sum(dim=-1)


def _expected_entropy(log_probs: Tensor) -> Tensor:
    probs = log_probs.exp()
    terms = torch.where(probs > 0, probs * log_probs, 0.0)
    return 0.0 - terms.sum(dim=-1).mean(dim=-1)


def _log_mean_probs(log_probs: Tensor) -> Tensor:
    """Compute ``ln p̄`` of shape ``(N, C)`` from log-probabilities of shape ``(N, T, C)``.

    ``ln p̄ = logsumexp_t(ln p_t) - ln T``. For the most probable class, when ``p̄`` is
    close to 1, that difference has an absolute error of a few units in the last place,
    which can exceed the small probabilities of the other classes that set the entropy.
    There ``ln(1 - q)``, with ``q`` the sum of the other classes' ``p̄``, keeps the
    precision.
    """
    num_samples = log_probs.shape[1]
    if num_samples == 1:
        # The mean of one sample is that sample, and returning it unchanged makes BALD
        # exactly 0.
        return log_probs[:, 0]

    log_mean = torch.logsumexp(log_probs, dim=1) - math.log(num_samples)

    top_log_mean, top_index = log_mean.max(dim=-1, keepdim=True)
    others = log_mean.scatter(-1, top_index, -math.inf)
    others_sum = torch.logsumexp(others, dim=-1, keepdim=True).exp()
    # For q >= 0.5, the top class has p̄ <= 0.5 and the log-sum-exp value is already
    # accurate. Keeping it there also avoids log1p(-q) on a q that rounds to 1 or above.
    precise_top = torch.where(others_sum < 0.5, torch.log1p(-others_sum), top_log_mean)
    return log_mean.scatter(-1, top_index, precise_top)
