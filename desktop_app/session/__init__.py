"""The app's state without widgets: the model session, the chat controller, conversations, settings, workers."""
