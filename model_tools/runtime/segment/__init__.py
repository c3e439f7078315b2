"""The segment family's runtime: Segment Anything on OpenVINO, the image encoder once per picture and the
prompt decoder once per click.

The prompt labels the decoder takes are SAM's own (those of its ONNX decoder), shared here with the converter
(this package imports nothing heavy; `pipeline` imports numpy, pillow and openvino).
"""

PAD_LABEL = -1  # not a point: pads the prompt when there is no box
NEGATIVE = 0  # a point outside the object
POSITIVE = 1  # a point on the object
BOX_TOP_LEFT, BOX_BOTTOM_RIGHT = 2, 3  # a box's corners, given as two more points
