"""BatchBALD: greedy batch selection by the joint mutual information with the model parameters.

Kirsch, van Amersfoort and Gal (2019), "BatchBALD: Efficient and Diverse Batch Acquisition
for Deep Bayesian Active Learning", NeurIPS, arXiv:1906.08158.

The input is Monte Carlo logits of shape ``(N, T, C)``: N pool items, T samples of the
model parameters ``w`` (for example MC dropout passes) and C classes. ``w`` is uniform
over the T samples. Step n of the greedy loop adds the candidate ``i`` that maximises

    I(y_1, ..., y_{n-1}, y_i; w) - I(y_1, ..., y_{n-1}; w)
        = E_{y_1..y_{n-1}} H(y_i | y_1, ..., y_{n-1}) - E_w H(y_i | w),

where ``y_1..y_{n-1}`` are the labels of the items already chosen. The first term is
computed over class configurations of the chosen items: every configuration while there
are few enough (exact), otherwise a Monte Carlo sample of configurations. For each
configuration ``m``, ``p(y_i | m) = sum_t p(w_t | m) p(y_i | w_t)``, so the candidate
probabilities of all configurations are one matrix product of the ``(M, T)`` posterior
over ``w`` with the ``(T, N * C)`` candidate probabilities.

With sampled configurations this is the importance-weighted estimator of the paper's
appendix. That estimator averages ``-sum_c p(m, c) log p(m, c) / p(m)`` over configurations
``m`` drawn from ``p(m)``. Because ``p(m, c) = p(m) p(c | m)``, each term equals
``-log p(m) + H(y_i | m)``. The ``-log p(m)`` part is the same for every candidate and is
dropped, and ``p(c | m)`` is computed from log-probabilities, so products of many small
probabilities cannot underflow.
"""

from __future__ import annotations

import math
from numbers import Integral

import torch
from torch import Tensor
from torch.nn import functional

from energizer.acquisition._checks import check_logits
from energizer.errors import InvalidArgumentError, format_message

__all__ = ["batch_bald"]

# Elements per block of configurations x candidate columns. Large enough that each matrix
# product and elementwise pass amortises its call overhead, small enough that the passes
# over a block (product, log, multiply, weighted sum) mostly run in the CPU caches. Of the
# powers of 2 from 2**16 to 2**22, 2**18 was fastest per element for these passes with
# torch 2.13 on a 2-core Xeon with AVX-512.
_BLOCK_ELEMENTS = 2**18

# Minimum candidate columns of a block while the budget allows, so that the matrix product
# is not a thin matrix-vector product.
_MIN_BLOCK_COLUMNS = 64

# Probability floor of the candidate pass. Candidate probabilities are raised to it, and
# posterior probabilities and configuration weights below it are set to 0. Then every
# product in the pass is either 0 or a normal number. Subnormal operands slowed a
# (4096, 20) x (20, 256) float32 product about 40-fold with torch 2.13 on a Xeon with
# AVX-512. The floor also keeps every p(c | m) positive, so p log p needs no masking for
# classes of probability 0. Each p(c | m) moves by at most T * floor, which changes a gain
# by at most about 45 * T * C * floor nats (below 1e-12 for float32 while T * C <= 20,000).
_FLOOR = {torch.float32: 1e-18, torch.float64: 1e-150}


def batch_bald(
    logits: Tensor,
    query_size: int,
    *,
    num_samples: int = 10_000,
    max_memory_bytes: int = 256 * 2**20,
    seed: int | None = None,
) -> Tensor:
    """Select a batch of pool items with greedy BatchBALD.

    Step n adds the candidate with the largest gain in joint mutual information
    ``I(y_1, ..., y_n; w)``, where ``y_1..y_{n-1}`` are the labels of the items chosen
    in earlier steps. In every step, among candidates with equal computed gains, the one
    at the lowest position wins. Step 1 is BALD, so ``query_size=1`` returns the item
    with the highest BALD score.

    The gain needs the distribution of the chosen items' class configurations. While
    there are at most ``num_samples`` configurations of nonzero probability, step n
    enumerates all of them and the gain is exact up to rounding. Beyond that, the step
    uses ``num_samples`` configurations drawn from the joint distribution of the chosen
    items (draw ``w_t``, then each label from ``p(y_j | w_t)``), with ``w_t`` cycling
    through a random permutation of the T samples. Each later step extends the same
    configurations with a label drawn for the newly chosen item.

    The work of a step is split into many short blocks, each run with torch's intra-op
    threads. When other processes keep every core busy, OpenMP threads that spin while
    waiting for each other can make this many times slower. In that case set
    ``OMP_WAIT_POLICY=PASSIVE`` before starting Python, or call ``torch.set_num_threads(1)``.

    Args:
        logits: Monte Carlo logits of shape ``(N, T, C)``: N pool items, T samples of the
            model parameters, C classes on the last dim. NaN and +inf are rejected, and
            -inf marks a class with probability 0. Float16 and bfloat16 are computed in
            float32, float32 and float64 in their own dtype.
        query_size: Number of items to select, between 1 and N.
        num_samples: Maximum number of class configurations per step. It sets the
            number of sampled configurations once exact enumeration would need more, so
            the work of one step is at most ``num_samples * N * C`` log evaluations.
        max_memory_bytes: Upper bound on the working tensors that grow with the number
            of configurations: the per-configuration tensors and the blocks of the
            candidate pass. Tensors of the input's size ``N * T * C`` (the log-probabilities
            and the probabilities of the pool) are not counted. Candidates are processed
            in blocks that fit the bound and have at most 2**18 elements, so the working
            tensors usually stay far below the default bound.
        seed: Seed of the ``torch.Generator`` that draws the sampled configurations. The
            same seed and inputs give the same result on the same device. With ``None``,
            the draws use torch's global random number generator.

    Returns:
        Positions into the first dim of ``logits``, an int64 tensor of shape
        ``(query_size,)`` on the input's device, distinct, in the order of selection.

    Raises:
        TypeError: ``logits`` is not a floating-point tensor, or ``query_size``,
            ``num_samples``, ``max_memory_bytes`` or ``seed`` is not an int.
        ValueError: ``logits`` is not of shape ``(N, T, C)`` with ``T >= 1`` and
            ``C >= 1``, contains NaN or +inf, or has a sample with every logit equal to
            -inf; ``query_size`` is not in ``[1, N]``; ``num_samples`` is below 1; or
            ``max_memory_bytes`` is below the minimum for one candidate, which the
            message states.
    """
    logits = check_logits(logits, ndim=3, layout="(N, T, C)")
    num_items, num_mc_samples, num_classes = logits.shape
    _check_num_mc_samples(logits)
    _check_int("query_size", query_size, minimum=1, maximum=num_items)
    _check_int("num_samples", num_samples, minimum=1)
    _check_int("max_memory_bytes", max_memory_bytes, minimum=0)
    if seed is not None:
        _check_int("seed", seed)

    itemsize = logits.element_size()
    max_configs = _max_configurations(num_classes, query_size, num_samples)
    minimum_bytes = _working_bytes(max_configs, num_mc_samples, num_classes, itemsize)
    minimum_bytes += 2 * itemsize * num_classes
    if max_memory_bytes < minimum_bytes:
        raise InvalidArgumentError(
            "max_memory_bytes",
            f"at least {minimum_bytes} bytes to score one candidate against"
            f" {max_configs} class configurations",
            max_memory_bytes,
            f"Raise max_memory_bytes to {minimum_bytes} or more, or lower num_samples.",
        )

    with torch.inference_mode():
        return _select(
            logits, query_size, num_samples, max_memory_bytes, _make_generator(seed, logits)
        )


def _select(
    logits: Tensor,
    query_size: int,
    num_samples: int,
    max_memory_bytes: int,
    generator: torch.Generator | None,
) -> Tensor:
    num_items, num_mc_samples, num_classes = logits.shape
    itemsize = logits.element_size()
    log_probs = torch.log_softmax(logits, dim=-1)
    probs = log_probs.exp()
    conditional_entropy = _expected_conditional_entropy(probs, log_probs)

    # (T, N * C): column i * C + c contains p(y_i = c | w_t) for the T samples.
    candidate_probs = probs.permute(1, 0, 2).reshape(num_mc_samples, num_items * num_classes)
    candidate_probs = candidate_probs.clamp_min(_FLOOR[logits.dtype])
    del probs

    # log p(configuration m | w_t) of the chosen items, one row per configuration. With no
    # item chosen there is one empty configuration of probability 1.
    log_joint: Tensor | None = logits.new_zeros(1, num_mc_samples)
    sampled_w: Tensor | None = None
    chosen = torch.empty(query_size, dtype=torch.int64, device=logits.device)

    for step in range(query_size):
        budget = max_memory_bytes - _working_bytes(
            len(log_joint), num_mc_samples, num_classes, itemsize
        )
        entropy = _expected_entropy(
            log_joint, sampled_w is not None, candidate_probs, num_classes, budget
        )
        gains = entropy.sub_(conditional_entropy)
        gains[chosen[:step]] = -math.inf
        # argmax returns the first maximum, so the lowest position wins a tie.
        best = int(gains.argmax())
        chosen[step] = best
        if step == query_size - 1:
            break

        item_log_probs = log_probs[best]
        if sampled_w is not None:
            _extend_sampled(log_joint, sampled_w, item_log_probs, generator)
            continue
        log_joint = _extend_exact(log_joint, item_log_probs, num_samples)
        if log_joint is None:
            sampled_w, log_joint = _start_sampling(
                log_probs, chosen[: step + 1], num_samples, generator
            )
    return chosen


def _expected_conditional_entropy(probs: Tensor, log_probs: Tensor) -> Tensor:
    """Compute ``E_w H(y_i | w)`` in nats for every item, shape ``(N,)``."""
    terms = torch.where(probs > 0, probs * log_probs, 0.0)
    return terms.sum(dim=(1, 2)).div_(-probs.shape[1])


def _expected_entropy(
    log_joint: Tensor,
    sampled: bool,
    candidate_probs: Tensor,
    num_classes: int,
    budget_bytes: int,
) -> Tensor:
    """Compute ``E_m H(y_i | m)`` in nats over the configurations m, shape ``(N,)``.

    Exact configurations are weighted by their probability ``p(m)``. Sampled ones were
    drawn from ``p(m)``, so each gets weight ``1 / M``.
    """
    floor = _FLOOR[log_joint.dtype]
    log_marginal = torch.logsumexp(log_joint, dim=1, keepdim=True)
    # posterior[m, t] = p(w_t | m).
    posterior = log_joint.sub(log_marginal).exp_()
    functional.threshold(posterior, floor, 0.0, inplace=True)
    if sampled:
        weights = torch.full_like(log_marginal[:, 0], 1.0 / len(log_joint))
    else:
        weights = log_marginal[:, 0].sub_(math.log(log_joint.shape[1])).exp_()
        functional.threshold(weights, floor, 0.0, inplace=True)
    del log_marginal
    return _weighted_entropy(posterior, weights, candidate_probs, num_classes, budget_bytes)


def _weighted_entropy(
    posterior: Tensor,
    weights: Tensor,
    candidate_probs: Tensor,
    num_classes: int,
    budget_bytes: int,
) -> Tensor:
    """Compute ``sum_m weights[m] * H(posterior[m] @ p(y_i | w))`` for every candidate.

    The ``(M, N * C)`` matrix of ``p(y_i = c | m)`` is never stored whole: blocks of
    configurations x candidate columns go through the matrix product, the log and the
    weighted sum over configurations, and only the per-column sums are kept.
    """
    num_configs = len(posterior)
    num_columns = candidate_probs.shape[1]
    max_elements = max(num_classes, budget_bytes // (2 * candidate_probs.element_size()))
    block_elements = min(_BLOCK_ELEMENTS, max_elements)
    block_rows = min(num_configs, max(1, block_elements // _MIN_BLOCK_COLUMNS))
    block_columns = min(num_columns, max(1, block_elements // block_rows))

    # Flat buffers, viewed per block, so that every block is contiguous and the matrix
    # product writes into it without a temporary copy.
    buffer = candidate_probs.new_empty(block_rows * block_columns)
    log_buffer = torch.empty_like(buffer)
    column_sums = candidate_probs.new_zeros(num_columns)
    for start in range(0, num_columns, block_columns):
        stop = min(start + block_columns, num_columns)
        columns = candidate_probs[:, start:stop]
        sums = column_sums[start:stop]
        for row in range(0, num_configs, block_rows):
            rows = slice(row, min(row + block_rows, num_configs))
            shape = (rows.stop - rows.start, stop - start)
            block = buffer[: shape[0] * shape[1]].view(shape)
            log_block = log_buffer[: block.numel()].view(shape)
            torch.mm(posterior[rows], columns, out=block)
            torch.log(block, out=log_block)
            log_block.mul_(block)
            sums.addmv_(log_block.T, weights[rows])
    return column_sums.view(-1, num_classes).sum(dim=1).neg_()


def _extend_exact(log_joint: Tensor, item_log_probs: Tensor, max_configs: int) -> Tensor | None:
    """Extend every configuration with each class of one more item.

    Returns the ``(M', T)`` log-probabilities of the extended configurations that have
    nonzero probability, or ``None`` when there are more than ``max_configs`` of them.
    """
    dtype = log_joint.dtype
    # possible[m, c] counts the samples w_t under which configuration m and class c both
    # have nonzero probability.
    possible = torch.isfinite(log_joint).to(dtype) @ torch.isfinite(item_log_probs).to(dtype)
    if int(torch.count_nonzero(possible)) > max_configs:
        return None
    config_index, class_index = possible.nonzero(as_tuple=True)
    return log_joint[config_index] + item_log_probs.T[class_index]


def _start_sampling(
    log_probs: Tensor, chosen: Tensor, num_samples: int, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """Draw ``num_samples`` configurations of the chosen items from their joint distribution.

    Returns the sample index ``w_t`` that generated each configuration, shape
    ``(num_samples,)``, and the configurations' log-probabilities, shape
    ``(num_samples, T)``.
    """
    num_mc_samples = log_probs.shape[1]
    device = log_probs.device
    permutation = torch.randperm(num_mc_samples, generator=generator, device=device)
    sampled_w = permutation[torch.arange(num_samples, device=device) % num_mc_samples]
    log_joint = log_probs.new_zeros(num_samples, num_mc_samples)
    for item in chosen.tolist():
        _extend_sampled(log_joint, sampled_w, log_probs[item], generator)
    return sampled_w, log_joint


def _extend_sampled(
    log_joint: Tensor,
    sampled_w: Tensor,
    item_log_probs: Tensor,
    generator: torch.Generator | None,
) -> None:
    """Draw one more item's label for every sampled configuration and update ``log_joint``."""
    class_probs = item_log_probs.exp()[sampled_w]
    labels = torch.multinomial(class_probs, 1, replacement=True, generator=generator)
    log_joint.add_(item_log_probs.T[labels[:, 0]])


def _max_configurations(num_classes: int, query_size: int, num_samples: int) -> int:
    """Return the most configurations any step can use: ``min(num_samples, C ** (k - 1))``."""
    count = 1
    for _ in range(query_size - 1):
        count *= num_classes
        if count >= num_samples:
            return num_samples
    return count


def _working_bytes(num_configs: int, num_mc_samples: int, num_classes: int, itemsize: int) -> int:
    """Return an upper bound on the bytes of the per-configuration tensors of one step.

    Each configuration has three rows of T floats: its log-probabilities, its posterior
    and a temporary, such as the new rows while extending. It also has C counts of
    possible extensions, a weight and a marginal, and two int64 values on the sampled
    path (the sample index and the drawn label).
    """
    floats = num_configs * (3 * num_mc_samples + num_classes + 2)
    return floats * itemsize + num_configs * 16


def _make_generator(seed: int | None, logits: Tensor) -> torch.Generator | None:
    if seed is None:
        return None
    generator = torch.Generator(device=logits.device)
    generator.manual_seed(seed)
    return generator


def _check_num_mc_samples(logits: Tensor) -> None:
    if logits.shape[1] < 1:
        raise InvalidArgumentError(
            "logits",
            "at least one Monte Carlo sample on dim 1 of shape (N, T, C)",
            f"shape {tuple(logits.shape)}",
            "Pass the logits of T >= 1 stochastic forward passes, stacked on dim 1.",
        )


def _check_int(
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(
            format_message(name, "an int", type(value).__name__, f"Pass {name} as a Python int.")
        )
    too_small = minimum is not None and value < minimum
    too_large = maximum is not None and value > maximum
    if not (too_small or too_large):
        return
    if maximum is None:
        expected = f"an int >= {minimum}"
    else:
        expected = f"an int between {minimum} and {maximum} (the number of pool items)"
    raise InvalidArgumentError(name, expected, value, _RANGE_FIXES[name])


_RANGE_FIXES = {
    "query_size": "Request at least one item and no more items than the pool contains.",
    "num_samples": "Pass at least 1 class configuration per step; the default is 10,000.",
    "max_memory_bytes": "Pass a byte count such as 256 * 2**20.",
}
