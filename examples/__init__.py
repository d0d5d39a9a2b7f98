"""The example scripts (run each as `python examples/NAME.py`); `python -m bench` imports scalar_autograd."""
