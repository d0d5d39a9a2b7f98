"""tg.data: TensorDataset, DataLoader and the MNIST IDX reader (with a shipped 5,000-digit sample)."""
from .loader import DataLoader, TensorDataset, default_collate
from .mnist import SAMPLE_DIR, IDXFormatError, load_mnist, mnist_datasets, read_idx

__all__ = ["DataLoader", "TensorDataset", "default_collate", "load_mnist", "mnist_datasets", "read_idx",
           "IDXFormatError", "SAMPLE_DIR"]
