# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small stateful emulator of the Vapi REST API, for tests and the lab.

usage: python3 tests/vapi_emulator/server.py --host 127.0.0.1 --port 8089 --api-key KEY [--state-file F]

Implements ``/credential`` (``byo-sip-trunk``), ``/assistant`` and ``/phone-number``
(``byo-phone-number``) create / list / get / update / delete the way the real API behaves
(see ../shared/reference/vapi-api.md):

* bearer authentication (401 otherwise);
* request bodies validated against Vapi's own DTO schemas (``schemas.json`` next to this
  file, derived from Vapi's OpenAPI document, origin recorded in its ``x-origin``): unknown
  properties give 400 ``property X should not exist`` (NestJS ``forbidNonWhitelisted``),
  wrong types, lengths, ranges and enum values give class-validator style messages;
* server-generated ``id``, ``orgId``, ``createdAt``, ``updatedAt`` (and ``status`` on phone
  numbers); the write-only ``outboundAuthenticationPlan.authPassword`` is stored, never returned;
* PATCH replaces the top-level properties it names; lists are bare JSON arrays, newest first,
  ``limit`` defaults to 100 and may not exceed 1000; unknown ids give 404, malformed ids 400;
* error bodies are NestJS-shaped: ``{"message": str | [str], "error": str, "statusCode": int}``.

Choices the real API leaves open (marked UNVERIFIED in the reference) are made here so tests are
deterministic: a PATCH of ``outboundAuthenticationPlan`` without ``authPassword`` keeps the stored
password; a phone number's ``credentialId`` / ``assistantId`` must exist; an inbound gateway must
be an IPv4 address (the real API refuses hostnames there with "SIP gateway creation failed").

Admin endpoints (no authentication), under ``/_emulator/``:

* ``GET /_emulator/requests``: the request log, ``[{seq, method, path, query, status, body}]``
  (secrets masked), ``DELETE /_emulator/requests`` clears it;
* ``POST /_emulator/reset``: forget every resource, fault and logged request;
* ``POST /_emulator/faults``: a JSON list of faults, each
  ``{method, path_regex, status, retry_after, delay_s, times, body, commit}``: the first
  matching fault with ``times`` left (default 1, 0 for unlimited) waits ``delay_s`` and, when
  ``status`` is set, answers with it (``body`` a JSON value, or a string sent as is), with a
  ``Retry-After`` header when ``retry_after`` is set. ``commit: true`` processes the request
  first (the create happens, only the answer is lost), for ambiguous-failure tests.
  ``GET`` lists the armed faults, ``DELETE`` disarms them;
* ``GET /_emulator/state``: every stored resource including write-only fields;
* ``POST /_emulator/webhook``: send a server message the way Vapi does (see ``send_server_message``):
  body ``{assistantId | phoneNumberId, type, message, cafile, verify_tls, org}``; answers what
  the server URL answered, with every attempt;
* ``GET /_emulator/health``.

Webhook credentials (``provider: webhook``, ``CreateWebhookCredentialDTO``) are stored like the
SIP trunk ones, their ``secretKey`` / ``token`` write-only; ``/_emulator/webhook`` signs with them.
"""
from __future__ import absolute_import, division, print_function

import argparse
import base64
import copy
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import re
import ssl
import sys
import threading
import time
import uuid

try:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.error import HTTPError, URLError
    from urllib.parse import parse_qs, urlsplit
    from urllib.request import Request, urlopen
except ImportError:  # pragma: no cover - Python 2 is not supported
    raise SystemExit('the Vapi emulator needs Python 3')

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_FILE = os.path.join(HERE, 'schemas.json')
ORG_ID = '00000000-0000-4000-8000-00000000e0e0'
LIST_DEFAULT_LIMIT = 100
LIST_MAX_LIMIT = 1000
# \Z, not $: class-validator refuses a trailing newline, Python's $ would let it through.
UUID_RE = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z')
E164_RE = re.compile(r'^\+[1-9][0-9]{1,14}\Z')
ALNUM_NUMBER_RE = re.compile(r'^\+?[a-zA-Z0-9]+\Z')
VAPI_SIP_URI_RE = re.compile(r'^sip:[A-Za-z0-9._~-]+@sip(\.eu)?\.vapi\.ai\Z')
REASONS = {
    400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
    409: 'Conflict', 429: 'Too Many Requests', 500: 'Internal Server Error',
    502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
}
SECRET_KEYS = ('authPassword', 'X-Vapi-Secret', 'x-vapi-secret', 'Authorization', 'authorization', 'secret', 'secretKey',
               'token')

# Which DTO validates which request: resource -> {discriminator value: (create DTO, update DTO)}.
RESOURCES = {
    'credential': {
        'discriminator': 'provider',
        'dto': {'byo-sip-trunk': ('CreateByoSipTrunkCredentialDTO', 'UpdateByoSipTrunkCredentialDTO'),
                # The spec has no UpdateWebhookCredentialDTO: DtoValidator derives it (see there).
                'webhook': ('CreateWebhookCredentialDTO', 'UpdateWebhookCredentialDTO')},
    },
    'assistant': {
        'discriminator': None,
        'dto': {None: ('CreateAssistantDTO', 'UpdateAssistantDTO')},
    },
    'phone-number': {
        'discriminator': 'provider',
        'dto': {'byo-phone-number': ('CreateByoPhoneNumberDTO', 'UpdateByoPhoneNumberDTO'),
                'vapi': ('CreateVapiPhoneNumberDTO', 'UpdateVapiPhoneNumberDTO')},
    },
}


def load_schemas(path=SCHEMA_FILE):
    with open(path) as handle:
        return json.load(handle)


def mask(value):
    """A copy of value with every secret-looking field replaced, for logs."""
    if isinstance(value, dict):
        return dict((k, '********' if k in SECRET_KEYS and v is not None else mask(v)) for k, v in value.items())
    if isinstance(value, list):
        return [mask(item) for item in value]
    return value


class DtoValidator(object):
    """Validates request bodies against Vapi's DTO schemas the way its NestJS pipes do."""

    def __init__(self, document=None):
        self.document = document if document is not None else load_schemas()
        self.schemas = self.document['components']['schemas']
        # Vapi's spec publishes the webhook credential's create DTO only. Its update, like every
        # other Update*CredentialDTO there, is assumed to be the create DTO with nothing required
        # (UNVERIFIED: the /credential paths are missing from the spec).
        create = self.schemas.get('CreateWebhookCredentialDTO')
        if create is not None and 'UpdateWebhookCredentialDTO' not in self.schemas:
            update = copy.deepcopy(create)
            update.pop('required', None)
            self.schemas['UpdateWebhookCredentialDTO'] = update
        self._validators = {}

    def names(self):
        return sorted(self.schemas)

    def _validator(self, name):
        if name not in self._validators:
            root = {'$ref': '#/components/schemas/%s' % name, 'components': self.document['components']}
            self._validators[name] = jsonschema.Draft4Validator(root)
        return self._validators[name]

    def _resolve(self, schema):
        seen = 0
        while isinstance(schema, dict) and '$ref' in schema and seen < 50:
            schema = self.schemas[schema['$ref'].rsplit('/', 1)[-1]]
            seen += 1
        return schema

    def _branch(self, branches, instance):
        """The oneOf/anyOf branch an object belongs to: by its discriminator-like enum fields."""
        index = self._branch_index(branches, instance)
        return None if index is None else self._resolve(branches[index])

    def _branch_index(self, branches, instance):
        best, best_score = None, -1
        if not isinstance(instance, dict):
            return None
        for position, branch in enumerate(branches):
            branch = self._resolve(branch)
            if branch.get('type') == 'null':
                continue
            props = self._properties(branch, instance)
            if props is None:
                props = {}
            score = 0
            mismatch = False
            for key, sub in props.items():
                sub = self._resolve(sub)
                if isinstance(sub, dict) and 'enum' in sub and key in instance and len(sub['enum']) <= 3:
                    if instance[key] in sub['enum']:
                        score += 100
                    else:
                        mismatch = True
            if mismatch:
                continue
            score += len([k for k in instance if k in props])
            if score > best_score:
                best, best_score = position, score
        return best

    def _properties(self, schema, instance):
        """The declared properties of an object schema, or None when any key is allowed."""
        schema = self._resolve(schema)
        if not isinstance(schema, dict):
            return None
        props = None
        if 'properties' in schema:
            props = dict(schema['properties'])
        for sub in schema.get('allOf', []):
            more = self._properties(sub, instance)
            if more is not None:
                props = dict(props or {}, **more)
        for key in ('oneOf', 'anyOf'):
            if key in schema and isinstance(instance, dict):
                branch = self._branch(schema[key], instance)
                if branch is not None:
                    more = self._properties(branch, instance)
                    if more is not None:
                        props = dict(props or {}, **more)
        extra = schema.get('additionalProperties')
        if extra is True or isinstance(extra, dict):
            return None
        return props

    def _items(self, schema):
        schema = self._resolve(schema)
        if not isinstance(schema, dict):
            return None
        if 'items' in schema:
            return schema['items']
        for sub in schema.get('allOf', []) + schema.get('anyOf', []):
            found = self._items(sub)
            if found is not None:
                return found
        return None

    def _unknown(self, schema, instance, path, out):
        if isinstance(instance, dict):
            props = self._properties(schema, instance)
            if props is None:
                return
            for key, value in instance.items():
                if key not in props:
                    out.append('%sproperty %s should not exist' % (''.join(p + '.' for p in path), key))
                else:
                    self._unknown(props[key], value, path + [key], out)
        elif isinstance(instance, list):
            items = self._items(schema)
            if items is not None:
                for index, value in enumerate(instance):
                    self._unknown(items, value, path + [str(index)], out)

    @staticmethod
    def _message(error):
        path = '.'.join(str(p) for p in error.absolute_path)
        name = path or 'body'
        validator, arg = error.validator, error.validator_value
        if validator == 'maxLength':
            return '%s must be shorter than or equal to %s characters' % (name, arg)
        if validator == 'minLength':
            return '%s must be longer than or equal to %s characters' % (name, arg)
        if validator == 'enum':
            shown = ', '.join(str(v) for v in arg[:30]) + (', ... (%d values)' % len(arg) if len(arg) > 30 else '')
            return '%s must be one of the following values: %s' % (name, shown)
        if validator == 'minimum':
            return '%s must not be less than %s' % (name, arg)
        if validator == 'maximum':
            return '%s must not be greater than %s' % (name, arg)
        if validator == 'required':
            missing = [key for key in arg if not isinstance(error.instance, dict) or key not in error.instance]
            return '; '.join('%s should not be null or undefined' % ('.'.join([path, key]) if path else key) for key in missing)
        if validator == 'type':
            kinds = arg if isinstance(arg, list) else [arg]
            if 'string' in kinds:
                return '%s must be a string' % name
            if 'number' in kinds or 'integer' in kinds:
                return '%s must be a number conforming to the specified constraints' % name
            if 'boolean' in kinds:
                return '%s must be a boolean value' % name
            if 'array' in kinds:
                return '%s must be an array' % name
            if 'object' in kinds:
                return 'nested property %s must be either object or array' % name
        return '%s: %s' % (name, error.message)

    def _flatten(self, error):
        """The most specific errors under a oneOf/anyOf failure (the branch that nearly matched)."""
        if error.validator in ('oneOf', 'anyOf') and error.context:
            index = self._branch_index(error.validator_value, error.instance)
            chosen = [e for e in error.context if index is not None and e.relative_schema_path and e.relative_schema_path[0] == index]
            if chosen:
                out = []
                for sub in chosen:
                    out.extend(self._flatten(sub))
                return out
            best = jsonschema.exceptions.best_match(error.context)
            if best is not None:
                return self._flatten(best)
        return [error]

    def errors(self, dto, body):
        """class-validator style messages for body against the DTO schema named dto ([] if valid)."""
        if dto not in self.schemas:
            raise KeyError('no schema %s' % dto)
        if not isinstance(body, dict):
            return ['request body must be a JSON object']
        messages = []
        # class-validator's @IsOptional() lets null through for every optional property (Vapi
        # detaches with null); a required one still fails as "should not be null or undefined".
        body = _without_nulls(body)
        self._unknown({'$ref': '#/components/schemas/%s' % dto}, body, [], messages)
        for error in sorted(self._validator(dto).iter_errors(body), key=lambda e: list(e.absolute_path)):
            for leaf in self._flatten(error):
                message = self._message(leaf)
                if message not in messages:
                    messages.append(message)
        return messages

    def defaults(self, dto, body, create=True):
        """body with the schema defaults Vapi fills in on write.

        A create gets them at the top level and inside each nested object; a PATCH only inside
        the nested objects it sends (they replace the stored ones whole), never at the top level
        (that would reset properties the PATCH did not name).
        """
        out = copy.deepcopy(body)
        self._fill(self._resolve({'$ref': '#/components/schemas/%s' % dto}), out, depth=2, top=create)
        return out

    def _fill(self, schema, instance, depth, top=True):
        if depth <= 0 or not isinstance(instance, dict):
            return
        props = self._properties(schema, instance) or {}
        for key, sub in props.items():
            resolved = self._resolve(sub)
            for part in [resolved] + [self._resolve(x) for x in resolved.get('allOf', [])]:
                if top and isinstance(part, dict) and 'default' in part and key not in instance:
                    instance[key] = copy.deepcopy(part['default'])
            if isinstance(instance.get(key), dict):
                target = resolved
                for combo in ('oneOf', 'anyOf'):
                    if combo in resolved:
                        target = self._branch(resolved[combo], instance[key]) or {}
                if resolved.get('allOf'):
                    target = self._resolve(resolved['allOf'][0])
                self._fill(target, instance[key], depth - 1)


def _server_defaults(record):
    """Server.timeoutSeconds: "@default 20" in Vapi's description, not in the schema."""
    server = record.get('server')
    if isinstance(server, dict) and server.get('url') is not None:
        server.setdefault('timeoutSeconds', 20)


def _without_nulls(value):
    if isinstance(value, dict):
        return dict((k, _without_nulls(v)) for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


class ApiError(Exception):
    def __init__(self, status, message, error=None, headers=None):
        super(ApiError, self).__init__(message)
        self.status = status
        self.body = {'message': message, 'error': error or REASONS.get(status, 'Error'), 'statusCode': status}
        self.headers = headers or {}


LIST_FILTERS = dict(
    ('%s%s' % (field, op), (field, test))
    for field in ('createdAt', 'updatedAt')
    for op, test in (('Gt', lambda a, b: a > b), ('Lt', lambda a, b: a < b),
                     ('Ge', lambda a, b: a >= b), ('Le', lambda a, b: a <= b)))


def _stamp(name, value):
    try:
        return datetime.datetime.strptime(value.replace('Z', '+0000'), '%Y-%m-%dT%H:%M:%S.%f%z')
    except (AttributeError, ValueError):
        try:
            return datetime.datetime.strptime(value.replace('Z', '+0000'), '%Y-%m-%dT%H:%M:%S%z')
        except (AttributeError, ValueError):
            raise ApiError(400, ['%s must be a valid ISO 8601 date string' % name])


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


class Emulator(object):
    """State, faults and the request log; independent of HTTP so tests can drive it directly."""

    def __init__(self, api_key, state_file=None, validator=None, list_order='desc'):
        # One organisation per key (a Vapi key belongs to one org); the first is the default org
        # of the admin endpoints and of state files written by older versions.
        keys = [api_key] if isinstance(api_key, str) else list(api_key)
        if not keys or len(set(keys)) != len(keys):
            raise ValueError('api keys must be given and distinct')
        self.api_key = keys[0]
        self.keys = keys
        self.state_file = state_file
        self.validator = validator or DtoValidator()
        self.list_order = list_order
        self.lock = threading.RLock()
        self.orgs = [self._new_org(index) for index in range(len(keys))]
        self.current = self.orgs[0]
        self.faults = []
        self.log = []
        self.seq = 0
        if state_file and os.path.exists(state_file):
            with open(state_file) as handle:
                saved = json.load(handle)
            for index, org in enumerate([saved] + list(saved.get('more_orgs', []))[:len(keys) - 1]):
                self.orgs[index]['store'].update(org.get('resources', {}))
                self.orgs[index]['secrets'] = org.get('secrets', {})

    @staticmethod
    def _new_org(index):
        return {'id': ORG_ID if index == 0 else '00000000-0000-4000-8000-%012x' % (0xe0e0 + index),
                'store': dict((name, {}) for name in RESOURCES), 'secrets': {}}

    # The resources of the organisation the request being handled belongs to.
    @property
    def store(self):
        return self.current['store']

    @property
    def secrets(self):
        return self.current['secrets']

    def org_of(self, header):
        """The organisation a bearer header belongs to, or None (401)."""
        if not header or not header.startswith('Bearer '):
            return None
        given = header[len('Bearer '):].strip().encode()
        found = None
        for key, org in zip(self.keys, self.orgs):
            if hmac.compare_digest(given, key.encode()):
                found = org
        return found

    # ---- persistence ----
    def _save(self):
        if not self.state_file:
            return
        tmp = self.state_file + '.tmp'
        first = self.orgs[0]
        with open(tmp, 'w') as handle:
            json.dump({'resources': first['store'], 'secrets': first['secrets'],
                       'more_orgs': [{'resources': org['store'], 'secrets': org['secrets']} for org in self.orgs[1:]]},
                      handle)
        os.chmod(tmp, 0o600)
        os.rename(tmp, self.state_file)

    def reset(self):
        with self.lock:
            self.orgs = [self._new_org(index) for index in range(len(self.keys))]
            self.current = self.orgs[0]
            self.faults = []
            self.log = []
            self._save()

    # ---- faults ----
    def set_faults(self, faults):
        if not isinstance(faults, list):
            raise ApiError(400, ['faults must be a JSON list'])
        clean = []
        for fault in faults:
            if not isinstance(fault, dict):
                raise ApiError(400, ['each fault must be an object'])
            unknown = set(fault) - {'method', 'path_regex', 'status', 'retry_after', 'delay_s', 'times', 'body', 'commit',
                                    'commit_after_s'}
            if unknown:
                raise ApiError(400, ['property %s should not exist' % key for key in sorted(unknown)])
            item = dict(fault)
            item['regex'] = re.compile(fault.get('path_regex') or '.*')
            item['left'] = int(fault.get('times', 1) or 0) or None
            clean.append(item)
        with self.lock:
            self.faults.extend(clean)
        return self.list_faults()

    def list_faults(self):
        with self.lock:
            return [dict((k, v) for k, v in f.items() if k not in ('regex',)) for f in self.faults]

    def take_fault(self, method, path):
        with self.lock:
            for fault in self.faults:
                if fault.get('method') and fault['method'].upper() != method:
                    continue
                if not fault['regex'].search(path):
                    continue
                if fault['left'] is not None:
                    fault['left'] -= 1
                    if fault['left'] <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    # ---- request log ----
    def record(self, method, path, query, status, body, org=None):
        with self.lock:
            self.seq += 1
            self.log.append({'seq': self.seq, 'method': method, 'path': path, 'query': query,
                             'status': status, 'body': mask(body),
                             'org': self.orgs.index(org) if org in self.orgs else None})

    # ---- API ----
    def authorized(self, header):
        return self.org_of(header) is not None

    def handle(self, method, path, query, body, org=None):
        """Returns (status, json body) for one API request, or raises ApiError."""
        with self.lock:
            self.current = org or self.orgs[0]
            try:
                return self._handle(method, path, query, body)
            finally:
                self.current = self.orgs[0]

    def _handle(self, method, path, query, body):
        parts = [p for p in path.split('/') if p]
        if not parts or parts[0] not in RESOURCES or len(parts) > 2:
            raise ApiError(404, 'Cannot %s %s' % (method, path))
        kind = parts[0]
        if len(parts) == 1:
            if method == 'GET':
                return 200, self._list(kind, query)
            if method == 'POST':
                return 201, self._create(kind, body)
            raise ApiError(404, 'Cannot %s %s' % (method, path))
        rid = parts[1]
        if not UUID_RE.match(rid):
            raise ApiError(400, 'Validation failed (uuid is expected)')
        if method not in ('GET', 'PATCH', 'DELETE'):
            raise ApiError(404, 'Cannot %s %s' % (method, path))
        if rid not in self.store[kind]:
            raise ApiError(404, 'Not Found')
        if method == 'GET':
            return 200, self._public(kind, rid)
        if method == 'PATCH':
            return 200, self._update(kind, rid, body)
        return 200, self._delete(kind, rid)

    def _public(self, kind, rid):
        return copy.deepcopy(self.store[kind][rid])

    def _list(self, kind, query):
        limit = LIST_DEFAULT_LIMIT
        if 'limit' in query:
            try:
                limit = float(query['limit'])
            except ValueError:
                raise ApiError(400, ['limit must be a number conforming to the specified constraints'])
            if limit > LIST_MAX_LIMIT:
                raise ApiError(400, ['limit must not be greater than %d' % LIST_MAX_LIMIT])
            if limit < 0:
                raise ApiError(400, ['limit must not be less than 0'])
            limit = int(limit)
        items = list(self.store[kind].values())
        for name, (field, test) in LIST_FILTERS.items():
            if name in query:
                bound = _stamp(name, query[name])
                items = [item for item in items if test(_stamp(field, item[field]), bound)]
        # Real order: undocumented (newest first as observed in the dashboard). --list-order asc
        # proves a client does not depend on it.
        items.sort(key=lambda r: (r['createdAt'], r['id']), reverse=self.list_order == 'desc')
        return [copy.deepcopy(item) for item in items[:limit]]

    def _dto(self, kind, discriminator_value, create):
        spec = RESOURCES[kind]
        dtos = spec['dto']
        key = spec['discriminator']
        if key is None:
            return dtos[None][0 if create else 1]
        if discriminator_value not in dtos:
            raise ApiError(400, ['%s must be one of the following values: %s' % (key, ', '.join(sorted(dtos)))])
        return dtos[discriminator_value][0 if create else 1]

    def _validate(self, dto, body):
        messages = self.validator.errors(dto, body)
        if messages:
            raise ApiError(400, messages)

    def _semantics(self, kind, record):
        """Checks the real API makes beyond its schemas (see the module docstring)."""
        if kind == 'credential':
            for index, gateway in enumerate(record.get('gateways') or []):
                if gateway.get('inboundEnabled', True):
                    try:
                        ipaddress.IPv4Address(u'%s' % gateway.get('ip'))
                    except ValueError:
                        raise ApiError(400, "Couldn't validate SIP trunk credential. SIP gateway creation failed. "
                                            "(gateways.%d.ip: inbound gateways need an IPv4 address)" % index)
        if kind == 'phone-number':
            number = record.get('number')
            if number is not None:
                if record.get('numberE164CheckEnabled', True):
                    if not E164_RE.match(number):
                        raise ApiError(400, ['number must be a valid phone number in the E.164 format (e.g. +14155551234)'])
                elif not ALNUM_NUMBER_RE.match(number):
                    raise ApiError(400, ['number must match /^\\+?[a-zA-Z0-9]+$/ regular expression'])
            cred = record.get('credentialId')
            if cred is not None and cred not in self.store['credential']:
                raise ApiError(400, 'Credential %s not found' % cred)
            assistant = record.get('assistantId')
            if assistant is not None and assistant not in self.store['assistant']:
                raise ApiError(400, 'Assistant %s not found' % assistant)
            uri = record.get('sipUri')
            if record.get('provider') == 'vapi' and uri is not None:
                if not VAPI_SIP_URI_RE.match(uri):
                    raise ApiError(400, ['sipUri must be a sip: URI on sip.vapi.ai or sip.eu.vapi.ai (sip:user@sip.vapi.ai)'])
                taken = [r for r in self.store['phone-number'].values() if r.get('sipUri') == uri and r.get('id') != record.get('id')]
                if taken:
                    raise ApiError(400, 'SIP URI %s is already in use' % uri)

    def _create(self, kind, body):
        if not isinstance(body, dict):
            raise ApiError(400, ['request body must be a JSON object'])
        key = RESOURCES[kind]['discriminator']
        dto = self._dto(kind, body.get(key) if key else None, create=True)
        self._validate(dto, body)
        record = self.validator.defaults(dto, body)
        _server_defaults(record)
        self._semantics(kind, record)
        rid = str(uuid.uuid4())
        stamp = _now()
        secret = self._split_secret(kind, record)
        record.update({'id': rid, 'orgId': self.current['id'], 'createdAt': stamp, 'updatedAt': stamp})
        if kind == 'phone-number':
            record['status'] = 'active'
        if kind == 'assistant':
            # Server-side defaults the real API adds to what it echoes: they must never look like drift.
            record.setdefault('firstMessageMode', 'assistant-speaks-first')
            record['isServerUrlSecretSet'] = False
        self.store[kind][rid] = record
        if secret is not None:
            self.secrets[rid] = secret
        self._save()
        return copy.deepcopy(record)

    def _split_secret(self, kind, record):
        """Removes the write-only password from what is stored for reads; returns it."""
        if kind == 'phone-number':
            auth = record.get('authentication')
            if isinstance(auth, dict) and 'password' in auth:
                return auth.pop('password')
            return None
        if kind != 'credential':
            return None
        plan = record.get('outboundAuthenticationPlan')
        if isinstance(plan, dict) and 'authPassword' in plan:
            return plan.pop('authPassword')
        # A webhook credential's HMAC key (or bearer token) is write-only like every other secret.
        plan = record.get('authenticationPlan')
        if isinstance(plan, dict):
            for key in ('secretKey', 'token'):
                if key in plan:
                    return plan.pop(key)
        return None

    def _update(self, kind, rid, body):
        if not isinstance(body, dict):
            raise ApiError(400, ['request body must be a JSON object'])
        current = self.store[kind][rid]
        key = RESOURCES[kind]['discriminator']
        if key and key in body and body[key] != current.get(key):
            raise ApiError(400, ['%s must be one of the following values: %s' % (key, current.get(key))])
        dto = self._dto(kind, current.get(key) if key else None, create=False)
        self._validate(dto, body)
        record = copy.deepcopy(current)
        incoming = copy.deepcopy(body)
        secret = self._split_secret(kind, incoming)
        # Vapi's PATCH replaces each property it names, nested objects included (no deep merge).
        incoming = self.validator.defaults(dto, incoming, create=False)
        _server_defaults(incoming)
        record.update(incoming)
        self._semantics(kind, record)
        record['updatedAt'] = _now()
        self.store[kind][rid] = record
        if secret is not None:
            self.secrets[rid] = secret
        self._save()
        return copy.deepcopy(record)

    def _delete(self, kind, rid):
        record = self.store[kind].pop(rid)
        self.secrets.pop(rid, None)
        self._save()
        return record

    def seed(self, kind, records, org=0):
        """Stores ready-made records (tests of large accounts), createdAt/updatedAt/id given or made up."""
        with self.lock:
            target = self.orgs[org]
            for record in records:
                record = copy.deepcopy(record)
                record.setdefault('id', str(uuid.uuid4()))
                record.setdefault('createdAt', _now())
                record.setdefault('updatedAt', record['createdAt'])
                record.setdefault('orgId', target['id'])
                target['store'][kind][record['id']] = record
            self._save()

    def prepare_server_message(self, spec):
        """(url, body bytes, headers, timeout, backoffPlan, message) for POST /_emulator/webhook.

        The server is the assistant's, else the phone number's (Vapi's precedence: assistant,
        then phone number, then org; the org level is not emulated).
        """
        if not isinstance(spec, dict):
            raise ApiError(400, ['request body must be a JSON object'])
        unknown = set(spec) - {'assistantId', 'phoneNumberId', 'type', 'message', 'cafile', 'verify_tls', 'org'}
        if unknown:
            raise ApiError(400, ['property %s should not exist' % key for key in sorted(unknown)])
        kind = spec.get('type') or 'end-of-call-report'
        if kind not in SERVER_MESSAGE_TYPES:
            raise ApiError(400, ['type must be one of the following values: %s' % ', '.join(SERVER_MESSAGE_TYPES)])
        index = spec.get('org') or 0
        if not isinstance(index, int) or not 0 <= index < len(self.orgs):
            raise ApiError(400, ['org must be an organisation index below %d' % len(self.orgs)])
        with self.lock:
            org = self.orgs[index]
            store = org['store']
            number = store['phone-number'].get(spec.get('phoneNumberId') or '')
            if spec.get('phoneNumberId') and number is None:
                raise ApiError(404, 'phone number %s not found' % spec['phoneNumberId'])
            assistant_id = spec.get('assistantId') or (number or {}).get('assistantId')
            assistant = store['assistant'].get(assistant_id or '')
            if spec.get('assistantId') and assistant is None:
                raise ApiError(404, 'assistant %s not found' % spec['assistantId'])
            server = None
            for holder in (assistant, number):
                if holder and (holder.get('server') or {}).get('url'):
                    server = copy.deepcopy(holder['server'])
                    break
            if server is None:
                raise ApiError(400, 'neither the assistant nor the phone number has a server.url')
            credential = store['credential'].get(server.get('credentialId') or '')
            if server.get('credentialId') and credential is None:
                raise ApiError(400, 'Credential %s not found' % server['credentialId'])
            secret = org['secrets'].get(server.get('credentialId') or '')
            call = {'id': str(uuid.uuid4()), 'orgId': org['id'], 'type': 'inboundPhoneCall', 'status': 'ended',
                    'assistantId': assistant_id, 'phoneNumberId': (number or {}).get('id'),
                    'customer': {'number': '+15550109999'}, 'createdAt': _now()}
            body = json.dumps(server_message(kind, call, copy.deepcopy(assistant), copy.deepcopy(number),
                                             spec.get('message'))).encode('utf-8')
        headers = webhook_headers(server, credential, secret, body, server['url'])
        return server['url'], body, headers, float(server.get('timeoutSeconds') or 20), server.get('backoffPlan'), kind

    def send_server_message(self, spec):
        url, body, headers, timeout, backoff, kind = self.prepare_server_message(spec)
        context = None
        if url.startswith('https:'):
            if spec.get('verify_tls', True) is False:
                context = ssl._create_unverified_context()  # pylint: disable=protected-access
            else:
                context = ssl.create_default_context(cafile=spec.get('cafile'))
        attempts = post_webhook(url, body, headers, timeout, backoff, context)
        self.record('WEBHOOK', url, {}, attempts[-1].get('status'), {'type': kind, 'attempts': len(attempts)})
        return {'url': url, 'type': kind, 'status': attempts[-1].get('status'), 'body': attempts[-1].get('body'),
                'attempts': attempts, 'request': json.loads(body.decode('utf-8')),
                'headers': sorted(h.lower() for h in headers)}

    def state(self, org=0):
        with self.lock:
            out = copy.deepcopy(self.orgs[org]['store'])
            for rid, secret in self.orgs[org]['secrets'].items():
                if rid in out['phone-number']:
                    out['phone-number'][rid].setdefault('authentication', {})['password'] = secret
                elif out['credential'].get(rid, {}).get('provider') == 'webhook':
                    plan = out['credential'][rid].setdefault('authenticationPlan', {})
                    plan['token' if plan.get('type') == 'bearer' else 'secretKey'] = secret
                else:
                    plan = out['credential'].get(rid, {}).setdefault('outboundAuthenticationPlan', {})
                    plan['authPassword'] = secret
            return out


SERVER_MESSAGE_TYPES = ('status-update', 'end-of-call-report', 'hang', 'transcript', 'speech-update',
                        'conversation-update', 'assistant-request', 'tool-calls', 'user-interrupted')
# Bounds of the emulated backoffPlan, so a test never hangs on it (Vapi allows 10 retries of 10 s base).
WEBHOOK_MAX_DELAY_S = 5.0


def server_message(kind, call, assistant, phone_number, extra=None):
    """A ServerMessage body shaped like Vapi's (ServerMessageStatusUpdate, ServerMessageEndOfCallReport...)."""
    now = time.time()
    message = {'type': kind, 'timestamp': int(now * 1000), 'call': call, 'customer': call.get('customer')}
    if assistant is not None:
        message['assistant'] = assistant
    if phone_number is not None:
        message['phoneNumber'] = phone_number
    if kind == 'status-update':
        message.update({'status': 'ended', 'endedReason': 'customer-ended-call'})
    elif kind == 'end-of-call-report':
        started = datetime.datetime.fromtimestamp(now - 42, datetime.timezone.utc)
        ended = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        message.update({
            'endedReason': 'customer-ended-call',
            'startedAt': started.strftime('%Y-%m-%dT%H:%M:%S.000Z'),
            'endedAt': ended.strftime('%Y-%m-%dT%H:%M:%S.000Z'),
            'durationSeconds': 42, 'cost': 0.07,
            'artifact': {'transcript': 'AI: Hello, you reached the byom lab.\nUser: Bye.',
                         'messages': [{'role': 'bot', 'message': 'Hello, you reached the byom lab.'},
                                      {'role': 'user', 'message': 'Bye.'}]},
            'analysis': {'summary': 'The caller said goodbye.', 'successEvaluation': 'true'},
        })
    elif kind == 'hang':
        pass
    elif kind == 'transcript':
        message.update({'role': 'user', 'transcriptType': 'final', 'transcript': 'Bye.'})
    for key, value in (extra or {}).items():
        message[key] = value
    return {'message': message}


def webhook_headers(server, credential, secret, body, url):
    """The headers Vapi adds for a server's credential (HMAC or bearer) and its own headers.

    HMAC: the signature of payloadFormat (default ``{timestamp}.{body}``) in signatureHeader
    (default x-signature), the timestamp in timestampHeader (default x-timestamp). The timestamp
    is in milliseconds here (UNVERIFIED: Vapi does not document the unit; the receiver takes both).
    """
    headers = {'Content-Type': 'application/json'}
    headers.update(dict((str(k), str(v)) for k, v in (server.get('headers') or {}).items()))
    plan = (credential or {}).get('authenticationPlan') or {}
    if plan.get('type') == 'hmac' and secret is not None:
        timestamp = str(int(time.time() * 1000))
        message_id = str(uuid.uuid4())
        payload = plan.get('payloadFormat') or '{timestamp}.{body}'
        if plan.get('includeTimestamp') is False:
            payload = payload.replace('{timestamp}.', '')
        head, _dummy, tail = payload.partition('{body}')
        for name, value in (('{timestamp}', timestamp), ('{method}', 'POST'), ('{url}', url), ('{svix-id}', message_id)):
            head, tail = head.replace(name, value), tail.replace(name, value)
        key = base64.b64decode(secret) if plan.get('secretIsBase64') else secret.encode('utf-8')
        digest = hmac.new(key, head.encode('utf-8') + body + tail.encode('utf-8'),
                          getattr(hashlib, plan.get('algorithm') or 'sha256')).digest()
        text = base64.b64encode(digest).decode() if plan.get('signatureEncoding') == 'base64' else digest.hex()
        headers[plan.get('signatureHeader') or 'x-signature'] = (plan.get('signaturePrefix') or '') + text
        headers[plan.get('timestampHeader') or 'x-timestamp'] = timestamp
        if plan.get('messageIdHeader'):
            headers[plan['messageIdHeader']] = message_id
    elif plan.get('type') == 'bearer' and secret is not None:
        prefix = '' if plan.get('bearerPrefixEnabled') is False else 'Bearer '
        headers[plan.get('headerName') or 'Authorization'] = prefix + secret
    return headers


def post_webhook(url, body, headers, timeout, backoff=None, context=None, sleep=time.sleep):
    """POSTs like Vapi: once, or with server.backoffPlan's retries on an error or a non-2xx status."""
    backoff = backoff or {}
    retries = int(min(max(backoff.get('maxRetries') or 0, 0), 10))
    base = float(backoff.get('baseDelaySeconds') or 0)
    excluded = set(int(code) for code in backoff.get('excludedStatusCodes') or [] if isinstance(code, int))
    attempts = []
    for attempt in range(retries + 1):
        if attempt:
            delay = base * (2 ** (attempt - 1)) if backoff.get('type') == 'exponential' else base
            sleep(min(delay, WEBHOOK_MAX_DELAY_S))
        try:
            with urlopen(Request(url, data=body, headers=headers, method='POST'), timeout=timeout, context=context) as resp:
                status, raw = resp.status, resp.read()
        except HTTPError as err:
            status, raw = err.code, err.read()
        except (URLError, OSError) as err:
            attempts.append({'error': str(getattr(err, 'reason', err))})
            continue
        try:
            answer = json.loads(raw.decode('utf-8'))
        except ValueError:
            answer = raw.decode('utf-8', 'replace')
        attempts.append({'status': status, 'body': answer})
        if 200 <= status < 300 or status in excluded:
            break
    return attempts


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'vapi-emulator/1'
    # Headers and body go out in two writes; without TCP_NODELAY each keep-alive answer waits
    # for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    emulator = None  # set by make_server
    verbose = False

    def log_message(self, fmt, *args):  # pylint: disable=arguments-differ
        if self.verbose:
            sys.stderr.write('%s - %s\n' % (self.address_string(), fmt % args))

    def _send(self, status, payload, headers=None):
        if isinstance(payload, (bytes, bytearray)):
            data = bytes(payload)
            ctype = 'text/plain'
        elif isinstance(payload, str):
            data = payload.encode('utf-8')
            ctype = 'text/plain'
        else:
            data = json.dumps(payload).encode('utf-8')
            ctype = 'application/json; charset=utf-8'
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != 'HEAD':
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

    def _body(self):
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length) if length else b''
        if not raw:
            return None
        try:
            return json.loads(raw.decode('utf-8'))
        except ValueError:
            raise ApiError(400, 'Unexpected token in JSON body')

    def _dispatch(self):
        url = urlsplit(self.path)
        path = url.path.rstrip('/') or '/'
        query = dict((k, v[-1]) for k, v in parse_qs(url.query, keep_blank_values=True).items())
        emu = self.emulator
        if path.startswith('/_emulator'):
            return self._admin(path, query)
        body = None
        org = None
        headers = {}
        status = 500
        try:
            body = self._body()
            org = emu.org_of(self.headers.get('Authorization'))
            if org is None:
                raise ApiError(401, 'Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa.')
            fault = emu.take_fault(self.command, path)
            if fault and fault.get('delay_s'):
                time.sleep(float(fault['delay_s']))
            if fault and fault.get('status'):
                if fault.get('commit'):
                    try:
                        emu.handle(self.command, path, query, body, org)
                    except ApiError:
                        pass
                if fault.get('commit_after_s') is not None:
                    # The proxy gave up (502/504) while the backend still works: the create lands later.
                    timer = threading.Timer(float(fault['commit_after_s']), _late, (emu, self.command, path, query, body, org))
                    timer.daemon = True
                    timer.start()
                status = int(fault['status'])
                if fault.get('retry_after') is not None:
                    headers['Retry-After'] = str(fault['retry_after'])
                payload = fault.get('body')
                if payload is None:
                    payload = {'message': 'emulated fault', 'error': REASONS.get(status, 'Error'), 'statusCode': status}
            else:
                status, payload = emu.handle(self.command, path, query, body, org)
        except ApiError as err:
            status, payload, headers = err.status, err.body, err.headers
        finally:
            # Logged before the answer goes out, so a client that has its answer sees it in the log.
            emu.record(self.command, path, query, status, body, org)
        return self._send(status, payload, headers)

    def _admin(self, path, query):
        emu = self.emulator
        try:
            if path == '/_emulator/health' and self.command == 'GET':
                return self._send(200, {'ok': True})
            if path == '/_emulator/requests':
                if self.command == 'GET':
                    with emu.lock:
                        return self._send(200, list(emu.log))
                if self.command == 'DELETE':
                    with emu.lock:
                        emu.log = []
                    return self._send(200, [])
            if path == '/_emulator/reset' and self.command == 'POST':
                emu.reset()
                return self._send(200, {'ok': True})
            if path == '/_emulator/faults':
                if self.command == 'POST':
                    return self._send(200, emu.set_faults(self._body()))
                if self.command == 'GET':
                    return self._send(200, emu.list_faults())
                if self.command == 'DELETE':
                    with emu.lock:
                        emu.faults = []
                    return self._send(200, [])
            if path == '/_emulator/state' and self.command == 'GET':
                return self._send(200, emu.state(int(query.get('org', 0))))
            if path == '/_emulator/webhook' and self.command == 'POST':
                # Logged as method WEBHOOK: Vapi calling out, not a client calling in.
                return self._send(200, emu.send_server_message(self._body()))
            if path == '/_emulator/seed' and self.command == 'POST':
                seed = self._body() or {}
                emu.seed(seed.get('kind'), seed.get('records', []), int(seed.get('org', 0)))
                return self._send(200, {'ok': True})
            raise ApiError(404, 'Cannot %s %s' % (self.command, path))
        except ApiError as err:
            return self._send(err.status, err.body)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _dispatch


def _late(emu, method, path, query, body, org):
    try:
        emu.handle(method, path, query, body, org)
    except ApiError:
        pass


def make_server(host, port, emulator, verbose=False):
    handler = type('BoundHandler', (Handler,), {'emulator': emulator, 'verbose': verbose})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description='Local emulator of the Vapi REST API (tests and lab).')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8089, help='0 picks a free port (printed on start)')
    parser.add_argument('--api-key', action='append',
                        help='the bearer key clients must send (or VAPI_EMULATOR_API_KEY); repeat it for several '
                             'organisations, one per key')
    parser.add_argument('--list-order', choices=['desc', 'asc'], default='desc',
                        help='order of list answers (createdAt); Vapi does not document it')
    parser.add_argument('--state-file', help='keep resources in this JSON file across restarts')
    parser.add_argument('--verbose', action='store_true', help='log every request to stderr')
    args = parser.parse_args(argv)
    keys = args.api_key or ([os.environ['VAPI_EMULATOR_API_KEY']] if os.environ.get('VAPI_EMULATOR_API_KEY') else [])
    if not keys:
        parser.error('--api-key (or VAPI_EMULATOR_API_KEY) is required')
    emulator = Emulator(keys, state_file=args.state_file, list_order=args.list_order)
    server = make_server(args.host, args.port, emulator, verbose=args.verbose)
    sys.stdout.write('vapi-emulator listening on http://%s:%d\n' % server.server_address[:2])
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
