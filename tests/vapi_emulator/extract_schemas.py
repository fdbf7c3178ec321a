# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Regenerate tests/vapi_emulator/schemas.json from Vapi's published OpenAPI document.

The emulator and the contract tests validate request bodies against Vapi's own DTO schemas.
They read the derived file, never the upstream spec, so a clone works on its own.

usage: python3 tests/vapi_emulator/extract_schemas.py PATH/TO/openapi.json

What is kept: the request DTOs the collection uses and every schema they reference, with
descriptions and examples dropped (size) and OpenAPI 3.0 ``nullable`` turned into JSON
Schema (``type: [T, "null"]``) so that a Draft 4 validator reads them the way the API does.
"""
from __future__ import absolute_import, division, print_function

import base64
import hashlib
import json
import os
import re
import sys
import zlib

ROOTS = [
    'CreateByoSipTrunkCredentialDTO',
    'UpdateByoSipTrunkCredentialDTO',
    'CreateByoPhoneNumberDTO',
    'UpdateByoPhoneNumberDTO',
    'CreateVapiPhoneNumberDTO',
    'UpdateVapiPhoneNumberDTO',
    'CreateAssistantDTO',
    'UpdateAssistantDTO',
]
DROP = ('description', 'example', 'examples', 'title', 'externalDocs', 'deprecated', 'x-fern-type-name')
ORIGIN = {
    'document': 'Vapi OpenAPI 3.0 spec (info.title "Vapi API", info.version "1.0"), the public api-json',
    'repository': 'VapiAI/docs',
    'path': 'fern/apis/api/openapi.json',
    'commit': '0494c2f3cd88c4fd04b8e98e9a247919270741ed (2026-08-18, last change of the file)',
    'note': 'The /credential paths are missing from that spec; their DTO schemas are there '
            '(CreateByoSipTrunkCredentialDTO, UpdateByoSipTrunkCredentialDTO).',
}


def _refs(node, found):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == '$ref' and isinstance(value, str):
                found.add(value.rsplit('/', 1)[-1])
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for item in node:
            _refs(item, found)


def closure(schemas, roots):
    seen = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        found = set()
        _refs(schemas[name], found)
        stack.extend(found - seen)
    return seen


def convert(node):
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in DROP:
            continue
        if key in ('properties', 'patternProperties'):
            out[key] = dict((name, convert(sub)) for name, sub in value.items())
        else:
            out[key] = convert(value)
    if out.pop('nullable', False):
        if 'type' in out:
            types = out['type'] if isinstance(out['type'], list) else [out['type']]
            out['type'] = types + ['null']
            if 'enum' in out:
                out['enum'] = list(out['enum']) + [None]
        else:
            out = {'anyOf': [{'type': 'null'}, out]}
    # The spec puts the allowed values of a list's items on the list itself (serverMessages,
    # clientMessages, redaction, ...): the API checks each item (class-validator each: true).
    if 'enum' in out and (out.get('type') == 'array' or 'items' in out):
        items = dict(out.get('items') or {})
        items.setdefault('enum', out.pop('enum'))
        out.pop('enum', None)
        out['items'] = items
    # BackoffPlan.type is declared "type: object" with string values; the API takes the strings.
    if out.get('type') == 'object' and out.get('enum') and all(isinstance(v, str) for v in out['enum']):
        out['type'] = 'string'
    # discriminator is documentation for code generators; oneOf already decides.
    out.pop('discriminator', None)
    # The spec writes "a known value or any string" as oneOf [{enum}, {type: string}]: a known
    # value matches both, which strict oneOf rejects. The API (class-validator) accepts it.
    if 'oneOf' in out and not any('$ref' in branch or branch.get('type') == 'object' for branch in out['oneOf']):
        out['anyOf'] = out.pop('oneOf')
    return out


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], 'rb') as handle:
        raw = handle.read()
    spec = json.loads(raw.decode('utf-8'))
    schemas = spec['components']['schemas']
    keep = closure(schemas, ROOTS)
    origin = dict(ORIGIN)
    origin['sha256'] = hashlib.sha256(raw).hexdigest()
    origin['generated_by'] = 'tests/vapi_emulator/extract_schemas.py'
    doc = {
        'x-origin': origin,
        'x-roots': ROOTS,
        'components': {'schemas': dict((name, convert(schemas[name])) for name in sorted(keep))},
    }
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'schemas.json')
    with open(target, 'w') as handle:
        json.dump(doc, handle, indent=1, sort_keys=True)
        handle.write('\n')
    print('%s: %d schemas' % (target, len(keep)))
    write_module_data(doc['components']['schemas'])
    return 0


def write_module_data(schemas):
    """The same schemas, compressed, inside plugins/module_utils/vapi_dto.py (modules have no file access)."""
    blob = base64.b64encode(zlib.compress(json.dumps(schemas, sort_keys=True, separators=(',', ':')).encode('utf-8'), 9))
    blob = blob.decode('ascii')
    body = ''.join("    '%s'\n" % blob[i:i + 100] for i in range(0, len(blob), 100))
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'plugins', 'module_utils', 'vapi_dto.py')
    with open(target) as handle:
        text = handle.read()
    text = re.sub(r'(_DATA = \(\n).*?(\)\n# END GENERATED)', lambda m: m.group(1) + body + m.group(2), text, flags=re.S)
    with open(target, 'w') as handle:
        handle.write(text)
    print('%s: %d characters of data' % (os.path.normpath(target), len(blob)))


if __name__ == '__main__':
    sys.exit(main(sys.argv))
