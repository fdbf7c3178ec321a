# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action side of byom.telephony.config_files: render every O(files[].src) template on the
controller the way ansible.builtin.template does, then hand the contents to the module in one
remote call, and build one diff per changed file."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.template import generate_ansible_template_vars, trust_as_template

KNOWN = ('path', 'src', 'content', 'state', 'owner', 'group', 'mode', 'notify', 'diff', 'create_only')


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('files', 'stat', 'read', 'services'))

    def _render(self, src, dest, task_vars):
        source = self._find_needle('templates', src)
        data = self._loader.get_text_file_contents(source)
        searchpath = list(task_vars.get('ansible_search_path', [])) + [self._loader._basedir, os.path.dirname(source)]
        searchpath = [q for p in searchpath for q in (os.path.join(p, 'templates'), p)]
        variables = task_vars.copy()
        template_vars = generate_ansible_template_vars(src, fullpath=source, dest_path=dest)
        if 'ansible_managed' in task_vars:
            # A play's own ansible_managed wins over the default header, as with ansible.builtin.template.
            del template_vars['ansible_managed']
        variables.update(template_vars)
        templar = self._templar.copy_with_new_env(searchpath=searchpath, available_variables=variables)
        result = templar.template(trust_as_template(data), escape_backslashes=False,
                                  overrides=dict(trim_blocks=True, lstrip_blocks=False))
        return to_text(result if result is not None else '')

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        files = self._task.args.get('files')
        if not isinstance(files, list):
            raise AnsibleActionFail('files: a list of {path, src|content|state, owner, group, mode, notify} is required')

        # Everything is rendered before anything is sent: a bad template writes nothing.
        entries = []
        for index, item in enumerate(files):
            if not isinstance(item, dict) or not item.get('path'):
                raise AnsibleActionFail('files[%d]: needs a path (got %r)' % (index, item))
            unknown = sorted(set(item) - set(KNOWN))
            if unknown:
                raise AnsibleActionFail('files[%d] (%s): unknown keys %s' % (index, item['path'], ', '.join(unknown)))
            if item.get('src') is not None and item.get('content') is not None:
                raise AnsibleActionFail('files[%d] (%s): src and content are exclusive' % (index, item['path']))
            entry = dict(item)
            # The module reads diff as a boolean ('off', 0, 'n' are false, null is the default); so
            # must the diff built here, or a secret file flagged diff: off would show its content.
            try:
                entry['diff'] = True if item.get('diff') is None else boolean(item['diff'], strict=True)
            except TypeError as exc:
                raise AnsibleActionFail('files[%d].diff (%s): %s' % (index, item['path'], to_text(exc)))
            if entry.get('src') is not None:
                try:
                    entry['content'] = self._render(entry.pop('src'), entry['path'], task_vars)
                except Exception as exc:
                    raise AnsibleActionFail('files[%d] (%s): rendering %s failed: %s'
                                            % (index, item['path'], item['src'], to_text(exc)))
            entries.append(entry)

        module_result = self._execute_module(module_name='byom.telephony.config_files',
                                             module_args=dict(files=entries, stat=self._task.args.get('stat') or [],
                                                              read=self._task.args.get('read') or [],
                                                              services=self._task.args.get('services') or []),
                                             task_vars=task_vars)
        result.update(module_result)
        # The old contents exist only to build the diff below; they never leave the plugin, not
        # even in a failure (the module returns the reports made before it failed).
        before = [report.pop('before_b64', None) for report in result.get('files', [])]
        if result.get('failed'):
            return result

        if self._task.diff and result.get('changed'):
            diffs = []
            for entry, report, old in zip(entries, result.get('files', []), before):
                if not report.get('changed'):
                    continue
                name = entry['path']
                if report.get('created') or report.get('content_changed'):
                    if not entry['diff']:
                        diffs.append(dict(before_header=name, after_header=name, before='',
                                          after='(content differs; not shown: the file holds secrets)\n'))
                    elif entry.get('content') is not None:
                        diffs.append(dict(before_header=name, after_header=name,
                                          before=to_text(base64.b64decode(old or ''), errors='surrogate_or_replace'),
                                          after=entry['content']))
                    else:
                        diffs.append(dict(before_header=name, after_header=name, before='',
                                          after='(%s created)\n' % entry.get('state', 'file')))
                if report.get('attributes_changed'):
                    diffs.append(dict(before_header=name + ' (owner:group mode)', after_header=name + ' (owner:group mode)',
                                      before=report['before_attributes'] + '\n', after=report['after_attributes'] + '\n'))
            result['diff'] = diffs
        return result
