"""The BLIP family's runtime: a question or caption in, streamed tokens out, on OpenVINO."""
