# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/modules/validate_inputs.py only documents the action plugin of the same name: the
documented check keys must be the ones the action plugin accepts, so neither drifts alone."""
from __future__ import absolute_import, division, print_function

import yaml

from ansible_collections.byom.telephony.plugins.action import validate_inputs as action
from ansible_collections.byom.telephony.plugins.modules import validate_inputs as docs


def documented():
    options = yaml.safe_load(docs.DOCUMENTATION)['options']
    checks = options['checks']['suboptions']
    # Keys only entries of `items` take are described in its text, not as suboptions.
    items_text = ' '.join(checks['items']['description'])
    return options, set(checks), items_text


def test_every_check_kind_and_option_of_the_action_is_documented():
    _options, keys, items_text = documented()
    item_only = {'key', 'default', 'requires'}
    assert set(action.KINDS) | set(action.OPTIONS) - item_only <= keys | item_only
    for name in item_only:
        assert 'C(%s)' % name in items_text, name


def test_nothing_is_documented_that_the_action_does_not_accept():
    options, keys, _items_text = documented()
    assert keys <= set(action.KINDS) | set(action.OPTIONS)
    assert set(options) == set(action.ActionModule._VALID_ARGS)
