# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a sipvicious tool from a chosen source address.

sipvicious 0.3.x svwar and svcrack accept -b/--bindingip but never pass it on (main() does not
give it to the scanner class), so they bind to '' and, towards 127.0.0.1, send from 127.0.0.1.
This wrapper pins the unspecified bind address to SRC and then runs the unmodified tool.

usage: python3 svsource.py SRC svwar|svcrack|svmap [tool args...]
"""
from __future__ import absolute_import, division, print_function

import runpy
import socket
import sys

SRC = sys.argv[1]
TOOL = sys.argv[2]
_BIND = socket.socket.bind


def _bind(self, address):
    if isinstance(address, tuple) and address and address[0] in ('', '0.0.0.0'):
        address = (SRC,) + tuple(address[1:])
    return _BIND(self, address)


socket.socket.bind = _bind
sys.argv = [TOOL] + sys.argv[3:]
runpy.run_module('sipvicious.' + TOOL, run_name='__main__')
