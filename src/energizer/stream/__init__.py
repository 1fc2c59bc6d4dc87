"""Stream-based active learning: decide item by item, under a label budget, which labels to ask for."""

from energizer.stream.budget import BudgetManager, CumulativeBudget, EstimatedBudget
from energizer.stream.loop import StreamLoop, run_stream
from energizer.stream.oracle import SKIPPED, AnnotatorOracle, DatasetOracle
from energizer.stream.results import StreamResults, StreamRoundResult, StreamStopReason
from energizer.stream.sources import stream_loader
from energizer.stream.strategies import (
    FixedUncertainty,
    RandomStream,
    Split,
    StreamStrategy,
    VariableUncertainty,
    decide_items,
)

__all__ = [
    "SKIPPED",
    "AnnotatorOracle",
    "BudgetManager",
    "CumulativeBudget",
    "DatasetOracle",
    "EstimatedBudget",
    "FixedUncertainty",
    "RandomStream",
    "Split",
    "StreamLoop",
    "StreamResults",
    "StreamRoundResult",
    "StreamStopReason",
    "StreamStrategy",
    "VariableUncertainty",
    "decide_items",
    "run_stream",
    "stream_loader",
]
