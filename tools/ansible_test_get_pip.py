"""Stand-in for the pip bootstrap script that ansible-test downloads from a host this machine cannot reach.

ansible-test runs its bootstrap script in an empty virtual environment with pip-install arguments (the
pinned pip version among them). This does the same with what Python ships: ensurepip installs the bundled
pip, which then installs the requested pinned packages from the package index.
"""

import ensurepip
import os
import runpy
import sys

GET_PIP_ONLY_FLAGS = {"--no-setuptools", "--no-wheel", "--no-pip"}


def main():
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_FLAGS]
    saved = dict(os.environ)
    ensurepip.bootstrap(upgrade=True)
    # ensurepip blanks pip's configuration for its own run; the install below needs the site's.
    os.environ.clear()
    os.environ.update(saved)
    sys.argv = ["pip", "install", *args]
    runpy.run_module("pip", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
