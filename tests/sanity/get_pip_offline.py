# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the get-pip bootstrap script ansible-test downloads.

ansible-test creates its sanity virtualenvs without pip and then fetches a get-pip script
from a CI file host that our build machines (and many air-gapped CI runners) cannot reach.
This script does the same job with what every CPython ships: ensurepip, then
`pip install <the arguments ansible-test passes>` from the package index pip is configured for.
scripts/sanity.sh copies it into ansible-test's cache under the name ansible-test looks for.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import subprocess
import sys

# get-pip understands these; plain `pip install` does not.
_GET_PIP_ONLY = ('--no-setuptools', '--no-wheel')


def main():
    # In a child process: ensurepip disables pip's configuration (PIP_CONFIG_FILE=/dev/null)
    # in the environment of the process that calls it, which would drop the site's index
    # and CA settings for the install below.
    rc = subprocess.call([sys.executable, '-m', 'ensurepip', '--upgrade'])
    if rc:
        return rc
    args = [arg for arg in sys.argv[1:] if arg not in _GET_PIP_ONLY]
    return subprocess.call([sys.executable, '-m', 'pip', 'install'] + args)


if __name__ == '__main__':
    sys.exit(main())
