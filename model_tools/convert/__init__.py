"""Converters from Hugging Face checkpoints to OpenVINO model folders, one module per family (needs torch)."""
