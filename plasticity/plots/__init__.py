"""Figures: the house style (:mod:`plasticity.plots.style`) and saving helpers."""

from plasticity.plots.style import (
    COLUMN_WIDTH_IN,
    DOUBLE_COLUMN_WIDTH_IN,
    PALETTE,
    figure,
    save_figure,
    use_style,
)

__all__ = ["COLUMN_WIDTH_IN", "DOUBLE_COLUMN_WIDTH_IN", "PALETTE", "figure", "save_figure",
           "use_style"]
