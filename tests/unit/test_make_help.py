# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make help` lists every target the Makefile declares."""
from __future__ import absolute_import, division, print_function

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_make_help_lists_every_phony_target():
    makefile = (ROOT / 'Makefile').read_text()
    phony = re.search(r'^\.PHONY:(.*)$', makefile, re.M).group(1).split()
    assert len(phony) > 5
    out = subprocess.run(['make', '-s', '-C', str(ROOT), 'help'], stdout=subprocess.PIPE, text=True, check=True).stdout
    listed = re.findall(r'^\s+make (\S+)\s+\S', out, re.M)
    assert sorted(listed) == sorted(phony), out
