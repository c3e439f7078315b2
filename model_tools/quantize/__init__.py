"""NNCF quantizers, one module per family, and their calibration data (needs nncf)."""
