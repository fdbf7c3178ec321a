# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which E.164 country an Asterisk dial pattern is confined to."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: pattern_country
author: byom.telephony contributors
short_description: The E.164 country code an Asterisk dial pattern (or number) is confined to
version_added: 1.0.0
description:
  - Reads the literal digits after C(_+) (or C(+)) and returns the ITU-T E.164 country code they
    start with, or an empty string when the digits do not yet decide the country (C(_+3XXXXXXXX)
    spans France, Spain, Italy...) or start with no assigned code.
  - Country codes are prefix-free, so at most one code can match.
  - Global services (800 freephone, 808, 870 Inmarsat, 878, 881 satellite, 882/883 international
    networks, 888, 979 international premium rate, 991) are no country, so an empty string unless
    O(services) is true.
options:
  _input:
    description: A pattern such as C(_+1NXXNXXXXXX) or a number such as C(+442071838750).
    type: str
    required: true
  services:
    description: Return global service codes (881, 882, 979...) instead of an empty string.
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: Routes must stay inside one country
  ansible.builtin.assert:
    that: item.pattern | byom.telephony.pattern_country | length > 0
  loop: "{{ asterisk_vapi_outbound_routes }}"
'''

RETURN = r'''
_value:
  description: The country code (digits, no +), or an empty string.
  type: str
'''

import re

from ansible.module_utils.common.text.converters import to_text

# ITU-T E.164 assigned country codes (Operational Bulletin list), including the global services.
_CODES = frozenset('''
1 7
20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 62 63 64 65 66
81 82 84 86 90 91 92 93 94 95 98
211 212 213 216 218 220 221 222 223 224 225 226 227 228 229 230 231 232 233 234 235 236 237 238 239
240 241 242 243 244 245 246 247 248 249 250 251 252 253 254 255 256 257 258 260 261 262 263 264 265
266 267 268 269 290 291 297 298 299 350 351 352 353 354 355 356 357 358 359 370 371 372 373 374 375
376 377 378 379 380 381 382 383 385 386 387 389 420 421 423 500 501 502 503 504 505 506 507 508 509
590 591 592 593 594 595 596 597 598 599 670 672 673 674 675 676 677 678 679 680 681 682 683 685 686
687 688 689 690 691 692 800 808 850 852 853 855 856 870 878 880 881 882 883 886 888 960 961 962 963
964 965 966 967 968 970 971 972 973 974 975 976 977 979 991 992 993 994 995 996 998
'''.split())

GLOBAL_SERVICES = frozenset(['800', '808', '870', '878', '881', '882', '883', '888', '979', '991'])

_LEAD = re.compile(r'^_?\+?([0-9]*)')


def pattern_country(pattern, services=False):
    """The country code the literal digits of pattern start with, or ''."""
    digits = _LEAD.match(to_text(pattern)).group(1)
    for length in (1, 2, 3):
        code = digits[:length]
        if len(code) == length and code in _CODES:
            return code if services or code not in GLOBAL_SERVICES else ''
    return ''


class FilterModule(object):
    def filters(self):
        return {'pattern_country': pattern_country}
