# -*- coding: utf-8 -*-
"""byom.telephony.config_files through ansible-playbook (action plugin + module) on the
controller itself: a role's file list is the only place a file is named, so adding an entry
is all it takes for the file to be written, its handler to run, and the next run to be quiet.
Runs against a temporary directory with connection=local: a few seconds, no container."""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

ROLE_TASKS = """
- name: Files
  byom.telephony.config_files:
    files: "{{ demo_files }}"
  register: demo_written
- name: Apply what changed
  ansible.builtin.debug:
    msg: "{{ demo_written.notify }}"
  changed_when: true
  notify: "{{ demo_written.notify }}"
  when: demo_written.notify | length > 0
"""
HANDLERS = """
- name: Reload main
  ansible.builtin.debug: {msg: HANDLER-RAN reload main}
- name: Reload extra
  ansible.builtin.debug: {msg: HANDLER-RAN reload extra}
"""
PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    demo_secret: s3cret-not-in-output
    demo_files:
      - {path: "%(out)s", state: directory, mode: "0750"}
      - {path: "%(out)s/main.conf", src: main.conf.j2, mode: "0640", notify: [Reload main]}
      - {path: "%(out)s/secret.conf", src: secret.conf.j2, mode: "0600", diff: false}
%(extra)s
  roles: [demo]
"""


def setup(tmp_path, extra=''):
    role = tmp_path / 'roles' / 'demo'
    for sub in ('tasks', 'handlers', 'templates'):
        (role / sub).mkdir(parents=True, exist_ok=True)
    (role / 'tasks' / 'main.yml').write_text(ROLE_TASKS)
    (role / 'handlers' / 'main.yml').write_text(HANDLERS)
    (role / 'templates' / 'main.conf.j2').write_text('# {{ ansible_managed }}\n{% for i in [1, 2] %}\nline {{ i }}\n{% endfor %}\n')
    (role / 'templates' / 'secret.conf.j2').write_text('password={{ demo_secret }}\n')
    (role / 'templates' / 'extra.conf.j2').write_text('extra={{ 6 * 7 }}\n')
    (tmp_path / 'play.yml').write_text(PLAY % {'out': tmp_path / 'out', 'extra': extra})


def play(tmp_path, *args):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / '.collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
    proc = subprocess.run([str(BIN / 'ansible-playbook'), 'play.yml', *args], cwd=tmp_path, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    changed = int(re.search(r'changed=(\d+)', proc.stdout).group(1))
    return changed, proc.stdout


EXTRA = '      - {path: "%s/extra.conf", src: extra.conf.j2, mode: "0644", notify: [Reload extra]}'


def test_a_file_added_to_the_list_is_written_with_its_handler_and_then_left_alone(tmp_path):
    setup(tmp_path)
    changed, out = play(tmp_path)
    assert changed == 2 and 'HANDLER-RAN reload main' in out
    assert (tmp_path / 'out' / 'main.conf').read_text() == '# Ansible managed\nline 1\nline 2\n'

    # The only edit a new file needs: one entry in the list.
    setup(tmp_path, EXTRA % (tmp_path / 'out'))
    changed, out = play(tmp_path, '--diff')
    assert changed == 2, out
    assert (tmp_path / 'out' / 'extra.conf').read_text() == 'extra=42\n'
    assert oct(os.stat(tmp_path / 'out' / 'extra.conf').st_mode & 0o777) == '0o644'
    assert 'HANDLER-RAN reload extra' in out and 'HANDLER-RAN reload main' not in out
    assert '+extra=42' in out

    changed, out = play(tmp_path)
    assert changed == 0 and 'HANDLER-RAN' not in out


def test_a_file_added_to_the_list_is_written_on_a_fresh_host(tmp_path):
    """The unsafe direction of the old engine: a file named in its task but not in a second
    expected-files list was skipped forever, even on a fresh host. The list is the only place
    now, so a new entry is written on the first run of a host that has none of the files."""
    setup(tmp_path, EXTRA % (tmp_path / 'out'))
    assert not (tmp_path / 'out').exists()
    changed, out = play(tmp_path)
    assert changed == 2, out
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['extra.conf', 'main.conf', 'secret.conf']
    assert (tmp_path / 'out' / 'extra.conf').read_text() == 'extra=42\n'
    assert oct(os.stat(tmp_path / 'out' / 'extra.conf').st_mode & 0o777) == '0o644'
    assert 'HANDLER-RAN reload extra' in out and 'HANDLER-RAN reload main' in out
    changed, out = play(tmp_path)
    assert changed == 0 and 'HANDLER-RAN' not in out


def test_check_diff_shows_drift_hides_secrets_and_changes_nothing(tmp_path):
    setup(tmp_path)
    play(tmp_path)
    (tmp_path / 'out' / 'main.conf').write_text('# Ansible managed\nline 1\nedited by hand\n')
    (tmp_path / 'out' / 'secret.conf').write_text('password=old\n')
    changed, out = play(tmp_path, '--check', '--diff')
    assert changed == 2
    assert '-edited by hand' in out and '+line 2' in out
    assert 'not shown: the file holds secrets' in out
    assert 's3cret-not-in-output' not in out and 'password=old' not in out
    assert (tmp_path / 'out' / 'main.conf').read_text().endswith('edited by hand\n')
    changed, out = play(tmp_path)
    assert changed == 2 and (tmp_path / 'out' / 'main.conf').read_text().endswith('line 2\n')


def test_a_broken_template_writes_nothing(tmp_path):
    setup(tmp_path)
    (tmp_path / 'roles' / 'demo' / 'templates' / 'secret.conf.j2').write_text('password={{ demo_undefined_var }}\n')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / '.collections'), ANSIBLE_NOCOLOR='1')
    proc = subprocess.run([str(BIN / 'ansible-playbook'), 'play.yml'], cwd=tmp_path, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, check=False)
    assert proc.returncode != 0 and 'secret.conf' in proc.stdout
    assert not (tmp_path / 'out').exists()
