"""Bundle entry point: the same `main()` as the `glimpse` command.

`--model-tools-job` (given by `model_tools.jobs.wire.job_command` in a frozen app) runs one Model Tools job in
this process instead: the bundle has no separate Python to run `python -m model_tools.jobs.child` with.
"""

import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["--model-tools-job"]:
        from model_tools.jobs.child import main as job_main

        sys.exit(job_main())
    from desktop_app.__main__ import main

    sys.exit(main())
