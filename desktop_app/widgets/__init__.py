"""The main window's widgets: chat, ask bar, picture panel, model bar, status, error dialog, theme."""
