"""Model Tools (Tools ▸ Model Tools…, Ctrl+Shift+M): download, convert, quantize and compare models in the app.

    window = ModelToolsWindow(main_window)      # pages: Models, Convert, Quantize, Compare
    window.models_changed.connect(main_window.refresh_models)

Every job runs `model_tools.jobs.child` in a child process, calling the same functions as `model-tools`
(convert, quantize, compare, library import): this package only collects options, shows progress and
results, and never imports the training stack itself.
"""

from desktop_app.tools_panel.job_host import Job, JobRunner
from desktop_app.tools_panel.window import ModelToolsWindow

__all__ = ["Job", "JobRunner", "ModelToolsWindow"]
