# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a host-side module's main() in-process: module_main(main, args, check, diff) -> its result."""
from __future__ import absolute_import, division, print_function

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class Done(Exception):
    """exit_json or fail_json was called; .result is what the module returned."""

    def __init__(self, result):
        super(Done, self).__init__(result.get('msg'))
        self.result = result


@pytest.fixture
def module_main(monkeypatch):
    def exit_json(self, **kwargs):
        kwargs.setdefault('changed', False)
        raise Done(kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs.update(msg=msg, failed=True)
        raise Done(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)

    def run(main, args, check=False, diff=False):
        with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)):
            with pytest.raises(Done) as done:
                main()
        return done.value.result
    return run
