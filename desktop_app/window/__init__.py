"""The main window and what it does: menus and actions, pictures in, conversation files."""
