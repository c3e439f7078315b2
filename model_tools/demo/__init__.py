"""The demo model: a tiny BLIP trained here on generated pictures of coloured shapes.

`shapes` draws the pictures and writes the questions, answers and captions (numpy + pillow only),
`evaluate` scores any backend on fresh pictures (no torch), `train` trains the two tiny models
(torch and transformers, imported lazily inside the functions).
"""
