# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""byom.telephony.pattern_country: routes are confined to one E.164 country."""
from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.byom.telephony.plugins.filter.pattern_country import FilterModule, pattern_country


@pytest.mark.parametrize('pattern, country', [
    ('_+1NXXNXXXXXX', '1'),
    ('_1NXXNXXXXXX', '1'),            # Vapi's default format, no '+'
    ('+15552230001', '1'),
    ('_+44XXXXXXXXXX', '44'),
    ('_+4420XXXXXXXX', '44'),
    ('_+33XXXXXXXXX', '33'),
    ('_+353XXXXXXXXX', '353'),
    ('_+7XXXXXXXXXX', '7'),
    ('_+880XXXXXXXXXX', '880'),
    ('_+86XXXXXXXXXXX', '86'),
    ('_+2348XXXXXXXXX', '234'),
])
def test_country_of_a_pattern(pattern, country):
    assert pattern_country(pattern) == country


@pytest.mark.parametrize('pattern', [
    '_+3XXXXXXXXX',     # +30..+39: Greece, Netherlands, France, Spain, Italy...
    '_+XXXXXXXXXXX',
    '_+[2-4]XXXXXXXXX',
    '_+35XXXXXXXXX',    # +350..+359
    '_+28XXXXXXXXX',    # no code starts with 28
    '_+2XXXXXXXXXX',
    '',
])
def test_a_pattern_spanning_countries_has_none(pattern):
    assert pattern_country(pattern) == ''


@pytest.mark.parametrize('number', ['+882345678901', '+881612345678', '+979123456789', '+80012345678', '+870772001899'])
def test_global_services_are_no_country_unless_asked(number):
    assert pattern_country(number) == ''
    assert pattern_country(number, services=True) == number[1:4]


def test_registered():
    assert FilterModule().filters()['pattern_country'] is pattern_country
