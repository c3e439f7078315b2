"""Glimpse's desktop window: PySide6 widgets that watch, and workers that talk to `model_tools.runtime`.

Never imports torch, transformers or nncf (the window must start fast); models are touched only from
worker threads, through `model_tools.runtime` and `model_tools.library.store`.
"""

__version__ = "0.1.0"
