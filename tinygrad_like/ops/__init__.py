"""The differentiable ops, one module per family; each op holds its forward and its backward."""
