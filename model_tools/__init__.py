"""Everything in Glimpse that touches models. Never imports Qt; heavy libraries load inside functions."""

__version__ = "0.1.0"
