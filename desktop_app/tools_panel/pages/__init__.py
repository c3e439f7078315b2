"""The Model Tools pages: Models, Convert, Quantize, Compare."""
