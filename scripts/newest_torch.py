"""Runs the calling script again under the newest PyTorch here: scripts/setup-peers's virtual
environment (.peers/torch) when it exists and the script is not already running in it.

    import newest_torch; newest_torch.reexec("FLOPSLAB_..._NO_VENV")

An environment variable named by the caller, when set, keeps the current interpreter."""

import os
import subprocess
import sys


def reexec(opt_out_variable=None):
    here = os.path.dirname(os.path.abspath(__file__))
    venv = os.path.join(here, "..", ".peers", "torch")
    venv_python = os.path.join(venv, "bin", "python3")
    # A virtual environment's python3 is a link to the system's: which environment runs shows
    # in sys.prefix, not in the executable's real path.
    if not os.path.exists(venv_python) or os.path.realpath(sys.prefix) == os.path.realpath(venv):
        return
    if opt_out_variable and os.environ.get(opt_out_variable):
        return
    sys.exit(subprocess.call([venv_python, os.path.abspath(sys.argv[0])] + sys.argv[1:]))
