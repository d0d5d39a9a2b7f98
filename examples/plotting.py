"""matplotlib for the examples' figures, used only when it is installed."""
from __future__ import annotations

from typing import Any, Optional


def pyplot(verbose: bool = True) -> Optional[Any]:
    """matplotlib.pyplot drawing to files only (Agg), or None when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        if verbose:
            print("(matplotlib is not installed: no plot)")
        return None
    return plt


def save(plt: Any, path: str, verbose: bool = True) -> None:
    """Add the legend, write the current figure to `path` and close it."""
    plt.legend()
    plt.tight_layout()
    plt.savefig(path, dpi=100)
    plt.close()
    if verbose:
        print(f"wrote {path}")
