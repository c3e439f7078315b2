"""Long work run for the app or the CLI: typed requests, progress and cancel, atomic folders, the job process."""
