#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: config_files
short_description: Write a role's configuration files in one call, only those that differ
version_added: 1.0.0
description:
  - Takes every file a role owns (templates rendered on the controller, literal contents, directories,
    files that only have to exist), compares them with the host in one round trip, and writes only
    what differs (content, owner, group, mode).
  - Returns which files changed and the handlers they name in O(files[].notify), so the task after
    it notifies exactly the reloads those files need, and a diff per changed file.
  - Templates are rendered before anything is written, so a template error changes nothing.
  - The action plugin of the same name renders O(files[].src); the module on the host receives content only.
author:
  - byom.telephony maintainers (@byom-telephony)
attributes:
  check_mode:
    description: Reports what would be written. Owners that do not exist yet (a fresh host) count as a change.
    support: full
  diff_mode:
    description: One diff per changed file (hidden for O(files[].diff=false)).
    support: full
  idempotent:
    description: Files that already match are not touched.
    support: full
options:
  files:
    description: Every file or directory the role owns. The list is the only place a file is named.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path on the host.
        type: path
        required: true
      src:
        description: A template in the role's C(templates/) (rendered by the action plugin).
        type: str
      content:
        description: Literal content (or, from the action plugin, the rendered template).
        type: str
      state:
        description:
          - C(file) with O(files[].src) or O(files[].content) writes that content.
          - C(file) without either creates an empty file when missing and never touches its content
            (log files another program writes).
          - C(directory) creates the directory when missing, with its missing parents (as M(ansible.builtin.file) does).
        type: str
        choices: [file, directory]
        default: file
      owner:
        description: Owner name.
        type: str
        default: root
      group:
        description: Group name.
        type: str
        default: root
      mode:
        description: Mode in octal (V("0640")).
        type: raw
        default: "0644"
      notify:
        description: Handler names to notify when this file changes (returned in RV(notify)).
        type: list
        elements: str
        default: []
      diff:
        description: Show this file's content in the diff. Set to V(false) for files holding secrets.
        type: bool
        default: true
      create_only:
        description:
          - Create the file or directory when it is missing and never touch it afterwards (content,
            owner, group and mode stay whatever the program that owns it sets).
          - An O(files[].owner) or O(files[].group) that does not exist yet falls back to C(root), so a
            role can create another program's log file before that program's user exists.
        type: bool
        default: false
  stat:
    description:
      - Further paths to report on in the same round trip (RV(stat)), without changing them; for example a
        marker file or the size of a log before this run's reloads write to it.
    type: list
    elements: path
    default: []
  read:
    description:
      - Further files whose content the caller needs before it decides what to write (RV(read)), in
        the same round trip and without changing them; for example a state file the next task compares.
    type: list
    elements: path
    default: []
  services:
    description:
      - systemd units to report on in the same round trip (RV(services)), without changing them, so that
        the role calls M(ansible.builtin.systemd_service) only for a unit that is not running and enabled
        already (every module call is a round trip to the host, even one that changes nothing).
    type: list
    elements: str
    default: []
'''

EXAMPLES = r'''
- name: Configuration files
  byom.telephony.config_files:
    files:
      - {path: /etc/asterisk/pjsip.conf, src: pjsip.conf.j2, group: asterisk, mode: "0640",
         notify: [Reload res_pjsip], diff: false}
      - {path: /var/log/asterisk, state: directory, owner: asterisk, group: asterisk, mode: "0750"}
  register: config

- name: Reload what the changed files need
  ansible.builtin.debug:
    msg: "{{ config.notify }}"
  changed_when: true
  notify: "{{ config.notify }}"
  when: config.notify | length > 0
'''

RETURN = r'''
changed_files:
  description: Paths that were (or in check mode would be) written.
  returned: always
  type: list
  elements: str
notify:
  description: Handlers named by the changed files, each once, in the order of O(files).
  returned: always
  type: list
  elements: str
stat:
  description: For each path of O(stat), whether it exists and its size in bytes (0 when absent).
  returned: always
  type: dict
  sample: {/var/log/asterisk/messages: {exists: true, size: 5120}}
read:
  description:
    - For each path of O(read), whether it is a regular file, its content (base64) and its owner, group
      and mode (as O(files[].mode) is written); only V(exists=false) for a path that is missing or not a file.
  returned: always
  type: dict
  sample: {/var/lib/byom-telephony/vapi-edge.json: {exists: true, content_b64: e30K, owner: root, group: root, mode: "0640"}}
services:
  description:
    - For each unit of O(services), what C(systemctl is-active) and C(systemctl is-enabled) answer
      (C(unknown) when systemctl cannot tell, for example without systemd), and C(started_and_enabled),
      true only when M(ansible.builtin.systemd_service) with C(state=started) and C(enabled=true) has
      nothing to do (active, and enabled by its unit file; not enabled-runtime, indirect, alias or SysV).
  returned: always
  type: dict
  sample: {fail2ban: {active: active, enabled: enabled, started_and_enabled: true}}
'''

import base64
import grp
import hashlib
import os
import pwd
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text

MAX_DIFF_BYTES = 128 * 1024


def octal_mode(value, field):
    """'0640', '640', 0o640 (a YAML 0640 arrives as 416) -> 0o640."""
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        mode = int(text, 8)
    except ValueError:
        raise ValueError('%s: %r is not an octal mode' % (field, value))
    if not 0 <= mode <= 0o7777:
        raise ValueError('%s: %r is not a mode' % (field, value))
    return mode


def lookup_ids(owner, group):
    try:
        uid = pwd.getpwnam(owner).pw_uid
    except KeyError:
        uid = None
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        gid = None
    return uid, gid


def describe_attrs(owner, group, mode):
    return '%s:%s %04o' % (owner, group, mode)


def read_current(path):
    """(kind, content bytes or None, owner, group, mode) of what is at path now."""
    try:
        st = os.lstat(path)
    except OSError:
        return 'absent', None, None, None, None
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    if stat.S_ISDIR(st.st_mode):
        kind = 'directory'
    elif stat.S_ISREG(st.st_mode):
        kind = 'file'
    else:
        kind = 'other'
    return kind, None, owner, group, stat.S_IMODE(st.st_mode)


def file_content(path):
    with open(path, 'rb') as handle:
        return handle.read()


def write_content(module, path, data):
    """Atomically: a temporary file in the same directory, renamed over the target."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix='.byom-', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def ensure(module, index, item):
    """Compare one entry with the host and, outside check mode, make it so. Returns a report."""
    path = item['path']
    field = 'files[%d]' % index
    want_mode = octal_mode(item['mode'], field + '.mode')
    has_content = item['content'] is not None
    kind, _data, owner, group, mode = read_current(path)
    report = {'path': path, 'changed': False, 'created': False, 'content_changed': False,
              'attributes_changed': False, 'before_b64': None}

    if item['state'] == 'directory':
        if kind not in ('absent', 'directory'):
            module.fail_json(msg='%s: %s exists and is not a directory' % (field, path))
    elif kind not in ('absent', 'file'):
        module.fail_json(msg='%s: %s exists and is not a regular file' % (field, path))

    new_data = to_bytes(item['content'], errors='surrogate_or_strict') if has_content else None
    if item['create_only'] and kind != 'absent':
        return report
    if kind == 'absent':
        report.update(changed=True, created=True, content_changed=has_content)
        if item['state'] == 'file' and not os.path.isdir(os.path.dirname(path)) and not module.check_mode:
            module.fail_json(msg='%s: the directory of %s does not exist' % (field, path))
    elif has_content:
        old = file_content(path)
        if hashlib.sha1(old).digest() != hashlib.sha1(new_data).digest():
            report.update(changed=True, content_changed=True)
            if module._diff and item['diff']:
                # base64: every content is a no_log value, and Ansible masks such values inside any
                # string of the result, so an old file holding a new content would come back starred.
                shown = old if len(old) <= MAX_DIFF_BYTES else b'(%d bytes, too large to show)\n' % len(old)
                report['before_b64'] = to_text(base64.b64encode(shown))
    if kind != 'absent' and (owner, group, mode) != (item['owner'], item['group'], want_mode):
        report.update(changed=True, attributes_changed=True,
                      before_attributes=describe_attrs(owner, group, mode))
    report['after_attributes'] = describe_attrs(item['owner'], item['group'], want_mode)
    if kind != 'absent':
        report.setdefault('before_attributes', describe_attrs(owner, group, mode))

    if not report['changed'] or module.check_mode:
        return report

    uid, gid = lookup_ids(item['owner'], item['group'])
    if item['create_only']:
        uid, gid = (0 if uid is None else uid), (0 if gid is None else gid)
    if uid is None or gid is None:
        module.fail_json(msg='%s: owner %s or group %s of %s does not exist' % (field, item['owner'], item['group'], path))
    if kind == 'absent' and item['state'] == 'directory':
        os.makedirs(path, want_mode)
    elif kind == 'absent' or report['content_changed']:
        write_content(module, path, new_data if has_content else b'')
    os.chown(path, uid, gid)
    os.chmod(path, want_mode)
    return report


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type='list', elements='dict', required=True, options=dict(
                path=dict(type='path', required=True),
                src=dict(type='str'),
                # Rendered templates may hold secrets: never logged by the module.
                content=dict(type='str', no_log=True),
                state=dict(type='str', choices=['file', 'directory'], default='file'),
                owner=dict(type='str', default='root'),
                group=dict(type='str', default='root'),
                mode=dict(type='raw', default='0644'),
                notify=dict(type='list', elements='str', default=[]),
                diff=dict(type='bool', default=True),
                create_only=dict(type='bool', default=False),
            )),
            stat=dict(type='list', elements='path', default=[]),
            read=dict(type='list', elements='path', default=[]),
            services=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    files = module.params['files']
    for index, item in enumerate(files):
        if item['src'] is not None:
            module.fail_json(msg='files[%d].src: templates are rendered by the config_files action plugin; '
                                 'call the module through it (or pass content)' % index)
        if item['state'] == 'directory' and item['content'] is not None:
            module.fail_json(msg='files[%d]: a directory has no content' % index)
        if not os.path.isabs(item['path']):
            module.fail_json(msg='files[%d].path: %r is not absolute' % (index, item['path']))
        try:
            octal_mode(item['mode'], 'files[%d].mode' % index)
        except ValueError as exc:
            module.fail_json(msg=str(exc))

    reports = []
    notify = []
    for index, item in enumerate(files):
        try:
            report = ensure(module, index, item)
        except (IOError, OSError) as exc:
            module.fail_json(msg='files[%d]: %s: %s' % (index, item['path'], to_text(exc)), files=reports)
        reports.append(report)
        if report['changed']:
            notify += [name for name in item['notify'] if name not in notify]
    module.exit_json(changed=any(r['changed'] for r in reports), files=reports, notify=notify,
                     changed_files=[r['path'] for r in reports if r['changed']],
                     stat=dict((path, probe(path)) for path in module.params['stat']),
                     read=dict((path, read_file(path)) for path in module.params['read']),
                     services=dict((name, unit_state(module, name)) for name in module.params['services']))


def probe(path):
    try:
        return {'exists': True, 'size': os.stat(path).st_size}
    except OSError:
        return {'exists': False, 'size': 0}


def read_file(path):
    kind, _data, owner, group, mode = read_current(path)
    if kind != 'file':
        return {'exists': False}
    try:
        data = file_content(path)
    except (IOError, OSError):
        return {'exists': False}
    return {'exists': True, 'content_b64': to_text(base64.b64encode(data)), 'owner': owner, 'group': group,
            'mode': '%04o' % mode}


def unit_state(module, name):
    """The two answers ansible.builtin.systemd_service reads before it decides (is-active, is-enabled)."""
    systemctl = module.get_bin_path('systemctl')
    answers = {}
    for question in ('is-active', 'is-enabled'):
        out = ''
        if systemctl:
            # Without systemd as PID 1, systemctl answers on stderr only: the unit counts as unknown.
            dummy, out, dummy = module.run_command([systemctl, question, '--', name],
                                                   environ_update={'LANG': 'C', 'LC_ALL': 'C'})
        lines = out.strip().splitlines()
        answers[question] = lines[-1].strip() if lines else 'unknown'
    return {'active': answers['is-active'], 'enabled': answers['is-enabled'],
            'started_and_enabled': answers['is-active'] == 'active' and answers['is-enabled'] == 'enabled'}


if __name__ == '__main__':
    main()
