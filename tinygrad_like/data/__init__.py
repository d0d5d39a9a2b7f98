"""tg.data: Dataset, Subset, ConcatDataset, random_split, TensorDataset, DataLoader and the MNIST IDX reader (with a shipped 5,000-digit sample)."""
from .dataset import ConcatDataset, Dataset, Subset, random_split
from .loader import DataLoader, TensorDataset, default_collate
from .mnist import SAMPLE_DIR, IDXFormatError, load_mnist, mnist_datasets, read_idx

__all__ = ["DataLoader", "TensorDataset", "default_collate", "load_mnist", "mnist_datasets", "read_idx",
           "IDXFormatError", "SAMPLE_DIR", "Dataset", "Subset", "ConcatDataset", "random_split"]
