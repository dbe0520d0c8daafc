"""House style for paper figures.

Widths follow common journal columns (85 mm single, 178 mm double); colours are the
Okabe-Ito palette, distinguishable with the common colour-vision deficiencies; PDF and PS
embed TrueType (Type 42) fonts so that journals' checks accept them and text stays
editable; SVG keeps text as text.
"""

from __future__ import annotations

from pathlib import Path

MM = 1 / 25.4
COLUMN_WIDTH_IN = 85 * MM
DOUBLE_COLUMN_WIDTH_IN = 178 * MM

# Okabe & Ito (2008), "Color Universal Design".
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000")

RC = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "figure.dpi": 150,
}

FORMATS = ("pdf", "svg", "png")


def use_style():
    """Apply the house style to matplotlib (non-interactive Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from cycler import cycler

    matplotlib.rcParams.update(RC)
    matplotlib.rcParams["axes.prop_cycle"] = cycler(color=list(PALETTE))


def figure(width="single", height_ratio=0.75, ncols=1, nrows=1, **kwargs):
    """A styled figure and its axes.

    Parameters
    ----------
    width : {"single", "double"} or float
        Journal column width, or a width in inches.
    height_ratio : float
        Height over width.
    """
    use_style()
    import matplotlib.pyplot as plt

    w = {"single": COLUMN_WIDTH_IN, "double": DOUBLE_COLUMN_WIDTH_IN}.get(width, width)
    fig, axes = plt.subplots(nrows, ncols, figsize=(w, w * height_ratio),
                             constrained_layout=True, **kwargs)
    return fig, axes


def save_figure(fig, stem, formats=FORMATS, metadata=None, overwrite=False):
    """Save ``fig`` as ``stem.<fmt>`` for each format; return the paths written.

    ``metadata`` (e.g. the run file and git commit) goes into each file's metadata.
    Existing files are not overwritten unless ``overwrite``.
    """
    from plasticity.errors import RunFileError

    stem = Path(stem)
    paths = [stem.with_name(f"{stem.name}.{fmt}") for fmt in formats]
    if not overwrite:
        for p in paths:
            if p.exists():
                raise RunFileError(f"{p} already exists; pass --overwrite to replace it.")
    meta = dict(metadata or {})
    for fmt, p in zip(formats, paths, strict=True):
        if fmt == "pdf":
            md = {"Creator": "plasticity", "Subject": meta.get("description", ""),
                  "Keywords": meta.get("provenance", "")}
        elif fmt == "svg":
            md = {"Creator": "plasticity", "Description": meta.get("provenance", "")}
        elif fmt == "png":
            md = {"Software": "plasticity", "Description": meta.get("provenance", "")}
        else:
            md = None
        fig.savefig(p, format=fmt, metadata=md)
    return paths
