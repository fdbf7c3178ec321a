# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures: run a module in-process with scripted HTTP (responses), and the DTO validator."""
from __future__ import absolute_import, division, print_function

import json

import pytest
import responses
from responses.registries import OrderedRegistry
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible.module_utils.common.warnings import get_warning_messages

from ansible_collections.byom.telephony.plugins.module_utils import vapi as vapi_utils

API = 'https://api.vapi.ai'
KEY = 'unit-test-key-123'


class ModuleExit(Exception):
    def __init__(self, result):
        super(ModuleExit, self).__init__(result)
        self.result = result


class ModuleFail(Exception):
    def __init__(self, result):
        super(ModuleFail, self).__init__(result.get('msg'))
        self.result = result


def _exit_json(self, **kwargs):
    kwargs.setdefault('changed', False)
    kwargs['warnings'] = list(get_warning_messages())
    raise ModuleExit(kwargs)


def _fail_json(self, msg, **kwargs):
    kwargs['msg'] = msg
    kwargs['failed'] = True
    raise ModuleFail(kwargs)


@pytest.fixture(autouse=True)
def target_side(monkeypatch):
    """Module code runs as on a managed host. Importing any controller module (ansible.errors,
    ansible.template, ...) anywhere in the process flips module_utils to controller mode for good,
    and then module warnings go to the controller's display instead of the result. Tests of
    controller code (tests/unit/plugins/action) switch it back on for themselves."""
    from ansible.module_utils import _internal  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(_internal, 'is_controller', False)


@pytest.fixture(autouse=True)
def fresh_warnings():
    """Module warnings are process-global; each test starts without any."""
    from ansible.module_utils.common import warnings as module_warnings
    module_warnings._global_warnings.clear()  # pylint: disable=protected-access
    yield


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """Retries without waiting (responses never sleeps; the POST recovery loop would)."""
    monkeypatch.setattr(vapi_utils, 'BACKOFF_FACTOR', 0.0)
    monkeypatch.setattr(vapi_utils, 'BACKOFF_JITTER', 0.0)
    monkeypatch.delenv('VAPI_API_KEY', raising=False)
    monkeypatch.delenv('VAPI_API_URL', raising=False)


@pytest.fixture
def api():
    """Every HTTP call scripted, in order; a call not scripted, or one scripted and not made, fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=True, registry=OrderedRegistry) as mock:
        yield mock


@pytest.fixture
def run_module(monkeypatch):
    """run_module(main, args, check=False, diff=False) -> result dict; raises ModuleFail on fail_json."""
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', _fail_json)

    def run(main, args, check=False, diff=False, fails=False):
        full = dict(args)
        full.setdefault('api_key', KEY)
        if full['api_key'] is None:
            del full['api_key']  # left to the VAPI_API_KEY fallback
        full['_ansible_check_mode'] = check
        full['_ansible_diff'] = diff
        with patch_module_args(full):
            try:
                main()
            except ModuleExit as done:
                if fails:
                    raise AssertionError('expected a failure, got %r' % (done.result,))
                return done.result
            except ModuleFail as failed:
                if not fails:
                    raise AssertionError('module failed: %s' % failed.result.get('msg'))
                return failed.result
        raise AssertionError('the module returned without exit_json or fail_json')
    return run


@pytest.fixture
def sent():
    """sent(api, method=None) -> [(method, path, JSON body)] of every request the module made."""
    def collect(api_mock, method=None):
        out = []
        for call in api_mock.calls:
            req = call.request
            if method and req.method != method:
                continue
            body = json.loads(req.body) if req.body else None
            out.append((req.method, req.path_url.split('?')[0], body))
        return out
    return collect


@pytest.fixture(scope='session')
def dto():
    import server  # tests/vapi_emulator/server.py
    return server.DtoValidator()


@pytest.fixture
def http_emulator():
    """http_emulator(keys=('k',), list_order='desc') -> a running in-process emulator (url, state, log)."""
    import threading
    import server as emulator_server
    started = []

    def start(keys=(KEY,), list_order='desc'):
        emulator = emulator_server.Emulator(list(keys), list_order=list_order)
        httpd = emulator_server.make_server('127.0.0.1', 0, emulator)
        thread = threading.Thread(target=httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
        thread.start()
        started.append(httpd)
        emulator.url = 'http://127.0.0.1:%d' % httpd.server_address[1]
        return emulator
    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()
