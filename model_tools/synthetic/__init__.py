"""Made-up inputs and tiny models built from a config, for tests, calibration and the demo."""
