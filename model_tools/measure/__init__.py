"""Measuring models: compare precisions, benchmark against PyTorch, profile kernels."""
