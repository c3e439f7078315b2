"""The chat family's runtime: a conversation about pictures on openvino-genai's VLMPipeline."""
