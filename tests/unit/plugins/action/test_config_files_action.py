# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""config_files (action side) with real Ansible objects: a play loaded from a temporary role
(DataLoader, VariableManager, the role's Task, a Templar over the real task vars) and the real
ActionModule. Only the remote call is replaced: the fake takes the arguments ActionBase would
send (_update_module_args), runs the real module's main() in-process against a temporary "host"
directory and hands back the JSON the module printed (so no_log masking is the module's own).

The task comes from the role's tasks/main.yml as ansible-playbook loads it; its action name is
set afterwards because resolving a collection action at load time needs Ansible's collection
finder in sys.meta_path, which would change how the rest of the unit suite imports the
collection."""
from __future__ import absolute_import, division, print_function

import base64
import contextlib
import grp
import io
import json
import os
import pwd
import stat

import pytest

from ansible.errors import AnsibleActionFail
from ansible.inventory.manager import InventoryManager
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.testing import patch_module_args
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play import Play
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import connection_loader
from ansible.template import Templar
from ansible.vars.clean import remove_internal_keys
from ansible.vars.manager import VariableManager

from ansible_collections.byom.telephony.plugins.action import config_files as action_plugin
from ansible_collections.byom.telephony.plugins.modules import config_files as module

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name
SECRET = 'pw-Zq81-never-shown'

TEMPLATES = {
    # ansible_managed, a role default, trim_blocks (the for-lines leave no blank line), an include
    # found through the role's templates/ and template_destpath. ansible.builtin.template renders
    # this the same way, including its quirk: the included text loses its last newline and
    # trim_blocks eats the one after the include tag (part=42dest=...).
    'main.conf.j2': ('# {{ ansible_managed }}\nport={{ demo_port }}\n{% for i in [1, 2] %}\nline {{ i }}\n'
                     '{% endfor %}\n{% include "part.j2" %}\ndest={{ template_destpath | basename }}\n'),
    'part.j2': 'part={{ 6 * 7 }}\n',
    'secret.conf.j2': 'password={{ demo_secret }}\n',
    'extra.conf.j2': 'extra=1\n',
    'undefined.j2': 'a={{ demo_no_such_variable }}\n',
    'syntax.j2': 'a={% if %}\n',
}


@pytest.fixture(autouse=True)
def controller_side(monkeypatch):
    """This file's own code is the controller (tests/unit/conftest.py makes every test the target
    side); host_side() switches to the target while the module runs."""
    monkeypatch.setattr(module_utils_internal, 'is_controller', True)


@pytest.fixture
def host(tmp_path):
    path = tmp_path / 'host'
    path.mkdir()
    return path


@pytest.fixture
def role_dir(tmp_path):
    role = tmp_path / 'play' / 'roles' / 'demo'
    for sub in ('tasks', 'templates', 'defaults'):
        (role / sub).mkdir(parents=True)
    (role / 'tasks' / 'main.yml').write_text(u'- name: Files\n  debug: {}\n')
    (role / 'defaults' / 'main.yml').write_text(u'demo_port: 5061\ndemo_secret: %s\n' % SECRET)
    for name, text in TEMPLATES.items():
        (role / 'templates' / name).write_text(text)
    return role


class Run(object):
    """One task run: .result (or .error), .calls (the arguments each remote call received)."""

    def __init__(self, result, calls, error=None):
        self.result, self.calls, self.error = result, calls, error


@pytest.fixture
def run(role_dir):
    """run(files, check=False, diff=False, args=None, module_answer=None, play_vars=None) -> Run."""
    base = str(role_dir.parent.parent)

    def call(files, check=False, diff=False, args=None, module_answer=None, play_vars=None):
        loader = DataLoader()
        loader.set_basedir(base)
        inventory = InventoryManager(loader=loader, sources='localhost,')
        variables = VariableManager(loader=loader, inventory=inventory)
        play = Play().load(dict(hosts='localhost', gather_facts=False, connection='local', roles=['demo'],
                                vars=play_vars or {}),
                           variable_manager=variables, loader=loader)
        task = [t for block in play.compile() for t in block.block if t._role is not None and t.action != 'meta'][0]
        task.action = 'byom.telephony.config_files'
        task.args = dict(files=files) if args is None else args
        task.check_mode, task.diff = check, diff
        task_vars = variables.get_vars(play=play, host=inventory.get_host('localhost'), task=task)
        play_context = PlayContext(play=play)
        connection = connection_loader.get('local', play_context, os.devnull)
        templar = Templar(loader=loader, variables=task_vars)
        action = action_plugin.ActionModule(task, connection, play_context, loader, templar, None)
        calls = []

        def execute_module(module_name=None, module_args=None, task_vars=None, **kwargs):
            assert module_name == 'byom.telephony.config_files' and not kwargs
            calls.append(json.loads(json.dumps(module_args)))
            if module_answer is not None:
                return module_answer
            sent = dict(module_args)
            action._update_module_args(module_name, sent, task_vars)
            return host_side(sent)

        action._execute_module = execute_module
        try:
            return Run(action.run(task_vars=task_vars), calls)
        except AnsibleActionFail as exc:
            return Run(None, calls, error=str(exc))
    return call


def host_side(module_args):
    """The module's main() with these arguments; what it printed, as the controller parses it."""
    out = io.StringIO()
    module_utils_internal.is_controller = False
    try:
        with patch_module_args(module_args), contextlib.redirect_stdout(out):
            with pytest.raises(SystemExit):
                module.main()
    finally:
        module_utils_internal.is_controller = True
    data = json.loads(out.getvalue())
    remove_internal_keys(data)
    return data


def conf(host, name, **extra):
    return dict(dict(path=str(host / name), owner=ME, group=MY_GROUP), **extra)


def files_of(host):
    return [
        conf(host, 'conf.d', state='directory', mode='0750'),
        conf(host, 'conf.d/main.conf', src='main.conf.j2', mode='0640', notify=['Reload main']),
        conf(host, 'conf.d/secret.conf', src='secret.conf.j2', mode=0o600, notify=['Reload main'], diff=False),
        conf(host, 'conf.d/static.conf', content='static=1\n', notify=['Restart']),
        conf(host, 'app.log', mode='0640'),
    ]


MAIN = '# Ansible managed\nport=5061\nline 1\nline 2\npart=42dest=main.conf\n'


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def test_templates_are_rendered_on_the_controller_and_the_host_gets_content_only(run, host):
    done = run(files_of(host))
    assert len(done.calls) == 1   # one round trip for the whole list
    sent = done.calls[0]['files']
    assert [f.get('src') for f in sent] == [None] * 5
    assert sent[1]['content'] == MAIN and sent[2]['content'] == 'password=%s\n' % SECRET
    assert sent[3]['content'] == 'static=1\n' and 'content' not in sent[4]
    assert (host / 'conf.d' / 'main.conf').read_text() == MAIN
    assert (host / 'conf.d' / 'secret.conf').read_text() == 'password=%s\n' % SECRET


def test_a_plays_own_ansible_managed_and_variables_win_over_the_defaults(run, host):
    done = run(files_of(host), play_vars={'ansible_managed': 'Managed by byom', 'demo_port': 5062})
    assert (host / 'conf.d' / 'main.conf').read_text() == MAIN.replace('Ansible managed', 'Managed by byom').replace(
        '5061', '5062')


def test_a_fresh_host_gets_everything_with_owner_and_mode_then_a_second_run_changes_nothing(run, host):
    first = run(files_of(host)).result
    assert first['changed'] and len(first['changed_files']) == 5
    assert first['notify'] == ['Reload main', 'Restart']   # each handler once, in list order
    assert mode(host / 'conf.d') == 0o750 and mode(host / 'conf.d' / 'main.conf') == 0o640
    assert mode(host / 'conf.d' / 'secret.conf') == 0o600 and mode(host / 'conf.d' / 'static.conf') == 0o644
    assert (host / 'app.log').read_text() == ''
    again = run(files_of(host), diff=True).result
    assert not again['changed'] and again['changed_files'] == [] and again['notify'] == []
    assert 'diff' not in again


def test_only_the_differing_file_is_written_and_only_its_handler_named(run, host):
    run(files_of(host))
    untouched = dict((name, os.stat(str(host / name))) for name in ('conf.d/main.conf', 'conf.d/secret.conf'))
    (host / 'conf.d' / 'static.conf').write_text(u'static=2  # by hand\n')
    (host / 'app.log').write_text(u'a line the program wrote\n')
    done = run(files_of(host)).result
    assert done['changed_files'] == [str(host / 'conf.d' / 'static.conf')] and done['notify'] == ['Restart']
    assert (host / 'conf.d' / 'static.conf').read_text() == 'static=1\n'
    assert (host / 'app.log').read_text() == 'a line the program wrote\n'
    for name, before in untouched.items():
        after = os.stat(str(host / name))
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), name


def test_owner_and_mode_drift_is_repaired_and_shown_as_an_attribute_diff(run, host):
    run(files_of(host))
    target = host / 'conf.d' / 'main.conf'
    owner = ME
    if os.getuid() == 0:   # as in CI: an owner drift too; elsewhere the mode alone
        owner = 'nobody'
        os.chown(str(target), pwd.getpwnam(owner).pw_uid, -1)
    os.chmod(str(target), 0o666)
    done = run(files_of(host), diff=True).result
    assert done['changed_files'] == [str(target)] and done['notify'] == ['Reload main']
    assert mode(target) == 0o640 and os.stat(str(target)).st_uid == os.getuid()
    assert done['diff'] == [{'before_header': str(target) + ' (owner:group mode)',
                             'after_header': str(target) + ' (owner:group mode)',
                             'before': '%s:%s 0666\n' % (owner, MY_GROUP), 'after': '%s:%s 0640\n' % (ME, MY_GROUP)}]


def test_diff_has_one_entry_per_changed_file_and_no_raw_report_fields(run, host):
    fresh = run(files_of(host), diff=True).result
    by_path = dict((d['before_header'], d) for d in fresh['diff'])
    assert len(fresh['diff']) == 5
    assert by_path[str(host / 'conf.d')]['after'] == '(directory created)\n'
    assert by_path[str(host / 'app.log')]['after'] == '(file created)\n'
    assert by_path[str(host / 'conf.d' / 'main.conf')] == {
        'before_header': str(host / 'conf.d' / 'main.conf'), 'after_header': str(host / 'conf.d' / 'main.conf'),
        'before': '', 'after': MAIN}
    (host / 'conf.d' / 'main.conf').write_text(u'port=5060\n')
    drift = run(files_of(host), diff=True).result
    assert drift['diff'] == [{'before_header': str(host / 'conf.d' / 'main.conf'),
                              'after_header': str(host / 'conf.d' / 'main.conf'), 'before': 'port=5060\n', 'after': MAIN}]
    assert all('before_b64' not in report for report in drift['files'])
    quiet = run(files_of(host)).result   # drift repaired; without --diff there is no diff at all
    assert 'diff' not in quiet and all('before_b64' not in report for report in quiet['files'])


def test_the_before_side_of_a_diff_is_the_file_as_it_is(run, host):
    """Every rendered content is a no_log value of the module, and Ansible masks such values
    wherever they occur in its result: an old content that holds a new one (lines appended by
    hand) must still arrive whole."""
    run(files_of(host))
    main, static = host / 'conf.d' / 'main.conf', host / 'conf.d' / 'static.conf'
    main.write_text(MAIN + u'added=by hand\n')
    static.write_text(u'# static=1\nstatic=1\n')
    done = run(files_of(host), diff=True).result
    assert [(d['before_header'], d['before']) for d in done['diff']] == [
        (str(main), MAIN + 'added=by hand\n'), (str(static), '# static=1\nstatic=1\n')]
    assert '*' * 8 not in json.dumps(done['diff'])


def test_a_huge_old_file_is_summarised_not_shipped(run, host):
    run(files_of(host))
    (host / 'conf.d' / 'static.conf').write_text(u'x' * 200000)
    done = run(files_of(host), diff=True).result
    assert done['diff'][0]['before'] == '(200000 bytes, too large to show)\n' and done['diff'][0]['after'] == 'static=1\n'


@pytest.mark.parametrize('diff_mode', [False, True])
def test_check_mode_reports_what_would_change_and_writes_nothing(run, host, diff_mode):
    done = run(files_of(host), check=True, diff=diff_mode).result
    assert done['changed'] and len(done['changed_files']) == 5 and done['notify'] == ['Reload main', 'Restart']
    assert list(host.iterdir()) == []
    assert ('diff' in done) is diff_mode
    run(files_of(host))
    (host / 'conf.d' / 'main.conf').write_text(u'port=5060\n')
    drift = run(files_of(host), check=True, diff=diff_mode).result
    assert drift['changed_files'] == [str(host / 'conf.d' / 'main.conf')]
    assert (host / 'conf.d' / 'main.conf').read_text() == 'port=5060\n'


def test_a_file_newly_added_to_the_list_is_written_and_names_its_handler(run, host):
    run(files_of(host))
    longer = files_of(host) + [conf(host, 'conf.d/extra.conf', src='extra.conf.j2', notify=['Reload extra'])]
    done = run(longer).result
    assert done['changed_files'] == [str(host / 'conf.d' / 'extra.conf')] and done['notify'] == ['Reload extra']
    assert (host / 'conf.d' / 'extra.conf').read_text() == 'extra=1\n'
    assert not run(longer).result['changed']


@pytest.mark.parametrize('flag', [False, 'false', 'no', 'off', 'n', 0, '0'])
def test_a_secret_file_is_never_in_the_diff_or_the_result(run, host, flag):
    files = files_of(host)
    files[2]['diff'] = flag
    fresh = run(files, diff=True).result
    (host / 'conf.d' / 'secret.conf').write_text(u'password=old-%s\n' % SECRET)
    drift = run(files, diff=True).result
    assert drift['changed_files'] == [str(host / 'conf.d' / 'secret.conf')]
    for result in (fresh, drift):
        assert SECRET not in json.dumps(result)
        shown = [d for d in result['diff'] if d['before_header'] == str(host / 'conf.d' / 'secret.conf')]
        assert shown == [{'before_header': str(host / 'conf.d' / 'secret.conf'),
                          'after_header': str(host / 'conf.d' / 'secret.conf'), 'before': '',
                          'after': '(content differs; not shown: the file holds secrets)\n'}]
    assert (host / 'conf.d' / 'secret.conf').read_text() == 'password=%s\n' % SECRET


@pytest.mark.parametrize('flag', [None, True, 'yes', 'on', 1])
def test_a_file_without_secrets_shows_its_content(run, host, flag):
    files = files_of(host)
    files[3]['diff'] = flag
    done = run(files, diff=True).result
    static = [d for d in done['diff'] if d['before_header'] == str(host / 'conf.d' / 'static.conf')]
    assert static == [{'before_header': str(host / 'conf.d' / 'static.conf'),
                       'after_header': str(host / 'conf.d' / 'static.conf'), 'before': '', 'after': 'static=1\n'}]


def test_a_bad_diff_flag_fails_naming_the_field_before_any_call(run, host):
    files = files_of(host)
    files[2]['diff'] = 'maybe'
    done = run(files, diff=True)
    assert done.calls == [] and 'files[2].diff' in done.error and list(host.iterdir()) == []


@pytest.mark.parametrize('template, expected', [
    ('undefined.j2', "'demo_no_such_variable' is undefined"),
    ('syntax.j2', 'Syntax error in template'),
    ('no-such.j2', "Could not find or access 'no-such.j2'"),
])
def test_a_template_that_does_not_render_writes_nothing_and_names_the_entry(run, host, template, expected):
    files = files_of(host) + [conf(host, 'broken.conf', src=template)]
    done = run(files)
    assert done.result is None and done.calls == [] and list(host.iterdir()) == []
    assert done.error.startswith('files[5] (%s): rendering %s failed: ' % (host / 'broken.conf', template))
    assert expected in done.error


@pytest.mark.parametrize('args, message', [
    ({}, 'files: a list'),
    ({'files': 'a.conf'}, 'files: a list'),
    ({'files': [], 'mode': '0644'}, 'Invalid options'),
    ({'files': [{'path': '/etc/a.conf', 'content': 'x'}, 'b.conf']}, 'files[1]: needs a path'),
    ({'files': [{'src': 'extra.conf.j2'}]}, 'files[0]: needs a path'),
    ({'files': [{'path': '/etc/a.conf', 'colour': 'red', 'src': 'extra.conf.j2'}]},
     'files[0] (/etc/a.conf): unknown keys colour'),
    ({'files': [{'path': '/etc/a.conf', 'src': 'extra.conf.j2', 'content': 'x'}]},
     'files[0] (/etc/a.conf): src and content are exclusive'),
])
def test_bad_input_fails_naming_the_field_and_nothing_is_sent(run, args, message):
    done = run(None, args=args)
    assert done.result is None and done.calls == []
    assert message in done.error


def test_the_modules_own_checks_come_back_as_a_failed_result(run, host):
    files = files_of(host)
    files[3]['mode'] = 'rw-r--r--'
    done = run(files).result
    assert done['failed'] and 'files[3].mode' in done['msg'] and list(host.iterdir()) == []


OLD_B64 = base64.b64encode(b'old=1\n').decode()


def test_a_failure_on_the_host_does_not_return_earlier_files_old_contents(run, host):
    """The module's I/O failure path returns the reports made so far (the file that failed is the
    last); their before_b64 is an internal field, as on success."""
    answer = {'failed': True, 'msg': 'files[3]: %s: [Errno 28] No space left on device' % (host / 'conf.d' / 'static.conf'),
              'files': [{'path': str(host / 'conf.d' / 'main.conf'), 'changed': True, 'created': False,
                         'content_changed': True, 'attributes_changed': False, 'before_b64': OLD_B64}]}
    done = run(files_of(host), diff=True, module_answer=answer).result
    assert done['failed'] and 'No space left' in done['msg']
    assert 'before_b64' not in done['files'][0] and OLD_B64 not in json.dumps(done)


def test_stat_paths_are_answered_in_the_same_round_trip(run, host):
    (host / 'messages').write_text(u'12345')
    done = run(None, args={'files': [], 'stat': [str(host / 'messages'), str(host / 'stamp')]})
    assert len(done.calls) == 1 and not done.result['changed']
    assert done.result['stat'] == {str(host / 'messages'): {'exists': True, 'size': 5},
                                   str(host / 'stamp'): {'exists': False, 'size': 0}}


def test_read_paths_are_answered_in_the_same_round_trip(run, host):
    (host / 'state.json').write_text(u'{}\n')
    done = run(None, args={'files': [], 'read': [str(host / 'state.json'), str(host / 'none.json')]})
    assert len(done.calls) == 1 and done.calls[0]['read'] == [str(host / 'state.json'), str(host / 'none.json')]
    assert done.result['read'][str(host / 'state.json')]['content_b64'] == 'e30K'
    assert done.result['read'][str(host / 'none.json')] == {'exists': False}
