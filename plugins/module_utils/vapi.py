# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared client and helpers for the byom.telephony Vapi modules.

One requests Session per module run, retries on urllib3's Retry (429 and 5xx, honouring
Retry-After, exponential backoff with jitter); POST is never retried blindly: after an
ambiguous failure the caller's finder lists again so a create that did succeed is adopted
instead of duplicated. Facts about the API: ../shared/reference/vapi-api.md in the project.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import ipaddress
import random
import re
import time
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib

REQUESTS_IMP_ERR = None
try:
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError
    from urllib3.util.retry import Retry
    HAS_REQUESTS = True
except ImportError:
    HAS_REQUESTS = False
    REQUESTS_IMP_ERR = traceback.format_exc()
    Retry = object  # lets the class below be defined; the modules fail early without requests

REGION_URLS = {
    'us': 'https://api.vapi.ai',
    'eu': 'https://api.eu.vapi.ai',
}
# Vapi's SIP side per region: the host a BYO trunk's contact is under (sip:<credential id>.<host>)
# and the signalling addresses Vapi publishes (its calls come from these; Vapi has changed them
# before: users override them with telephony_vapi_sip_addresses). The roles read both through the
# byom.telephony.vapi_sip_host / vapi_sip_cidrs filters: this is their only copy.
REGION_SIP_HOSTS = {
    'us': 'sip.vapi.ai',
    'eu': 'sip.eu.vapi.ai',
}
REGION_SIP_CIDRS = {
    'us': ('44.229.228.186/32', '44.238.177.138/32'),
    'eu': ('63.182.83.170/32',),
}


def vapi_region_key(region, table):
    """region as a key of table (REGION_SIP_HOSTS, REGION_SIP_CIDRS, ...), or ValueError naming the choices.

    ValueError rather than AnsibleFilterError: the filters using this report any exception under
    their own name, and ansible.errors (controller-side warning handling) stays out of the unit-test
    process, where it changes how the modules' warnings are collected."""
    key = str(region)
    if key not in table:
        raise ValueError('unknown Vapi region %r: expected one of %s' % (key, ', '.join(sorted(table))))
    return key


RETRY_STATUSES = (429, 500, 502, 503, 504)
# Module-level so tests can make retries instant; the values are the production ones.
BACKOFF_FACTOR = 1.0
BACKOFF_JITTER = 1.0
BACKOFF_MAX = 30.0
RETRY_AFTER_MAX = 60.0
LIST_LIMIT = 1000
# Bounds every list walk: 1000 pages of 1000 items.
MAX_PAGES = 1000
# After a POST got no answer, or a gateway error (502/504: the proxy gave up, the backend may
# still be creating), how often to list again, waiting BACKOFF_FACTOR * 2**n seconds before each
# (1+2+4+8 = 15 s), before a second POST (502/504) or giving up (no answer).
ADOPT_POLLS = 4
GATEWAY_STATUSES = (502, 504)
# VapiError.ambiguous: the server answered 5xx (its work is over: safe to look, then POST again),
# or no answer came (the create may still be running: look, never POST again in this run).
ANSWERED = 'answered'
IN_FLIGHT = 'in-flight'
MASK = '********'
USER_AGENT = 'byom.telephony-ansible/1.0'

# \Z rather than $: Python's $ also matches before a trailing newline ("id\n" from a file),
# which Vapi refuses.
UUID_RE = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z')
E164_RE = re.compile(r'^\+[1-9][0-9]{1,14}\Z')
ALNUM_NUMBER_RE = re.compile(r'^\+?[a-zA-Z0-9]+\Z')
HOSTNAME_RE = re.compile(r'^(?=.{1,253}\Z)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?\Z')
SECRET_KEY_RE = re.compile(r'(^(auth)?password$|secret$|^authorization$|^(x-)?api[-_]?key$|^(access[-_]?)?token$)', re.I)
# Fields the server sets: never compared, never sent back (400 "property X should not exist").
SERVER_FIELDS = ('id', 'orgId', 'createdAt', 'updatedAt', 'status', 'providerResourceId', 'latestVersion',
                 'analyticsMetadata', 'isDeleted', 'isServerUrlSecretSet', 'workflowIds')
DIFF_HIDDEN = ('orgId', 'createdAt', 'updatedAt', 'isServerUrlSecretSet', 'analyticsMetadata')
MAX_NAME = 40


def vapi_argument_spec():
    """The options every Vapi module takes (doc fragment byom.telephony.vapi)."""
    return dict(
        api_key=dict(type='str', required=True, no_log=True, fallback=(env_fallback, ['VAPI_API_KEY'])),
        region=dict(type='str', default='us', choices=['us', 'eu']),
        api_url=dict(type='str', fallback=(env_fallback, ['VAPI_API_URL'])),
        timeout=dict(type='int', default=30),
        retries=dict(type='int', default=5),
        validate_certs=dict(type='bool', default=True),
    )


def server_argument_spec():
    """The C(server) option of assistants and phone numbers (Vapi's Server object)."""
    return dict(
        type='dict',
        options=dict(
            url=dict(type='str', required=True),
            secret=dict(type='str', no_log=True),
            headers=dict(type='dict'),
            timeout_seconds=dict(type='int'),
            credential_id=dict(type='str'),
            backoff_plan=dict(type='dict'),
            static_ip_addresses_enabled=dict(type='bool'),
        ),
    )


class VapiError(Exception):
    """A failed API call: status (None for network errors) and a message safe to show."""

    def __init__(self, message, status=None, ambiguous=False, body=None):
        super(VapiError, self).__init__(message)
        self.message = message
        self.status = status
        self.ambiguous = ambiguous
        self.body = body


class VapiRetry(Retry):
    """urllib3 Retry with the API's rules.

    POST is retried only on 429 (the request was refused before any work); on 5xx or a
    timeout a create may have happened, which the caller resolves by listing again.
    Retry-After is honoured on 5xx too, and capped so a bogus value cannot hang a play.
    """

    RETRY_AFTER_STATUS_CODES = frozenset([413, 429, 500, 502, 503, 504])

    def is_retry(self, method, status_code, has_retry_after=False):
        if method and method.upper() == 'POST':
            return status_code == 429 and bool(self.total)
        return super(VapiRetry, self).is_retry(method, status_code, has_retry_after)

    def get_backoff_time(self):
        """Exponential backoff with jitter, capped at BACKOFF_MAX.

        Computed here rather than with Retry(backoff_jitter=, backoff_max=), which urllib3 1.26
        (Debian 12, Ubuntu 22.04) does not have.
        """
        consecutive = 0
        for entry in reversed(self.history):
            if entry.redirect_location is not None:
                break
            consecutive += 1
        if consecutive <= 1:
            return 0
        value = BACKOFF_FACTOR * (2 ** (consecutive - 1)) + random.random() * BACKOFF_JITTER
        return max(0.0, min(BACKOFF_MAX, value))

    def parse_retry_after(self, retry_after):
        return min(super(VapiRetry, self).parse_retry_after(retry_after), RETRY_AFTER_MAX)


def _api_message(body):
    """Vapi's error text: NestJS bodies carry message as a string or a list of strings."""
    if isinstance(body, dict):
        message = body.get('message')
        if isinstance(message, list):
            message = '; '.join(str(item) for item in message)
        parts = [str(part) for part in (body.get('error'), message) if part]
        if parts:
            return ': '.join(parts) if len(parts) == 2 and parts[0] != parts[1] else parts[-1]
    return None


class VapiClient(object):
    """The HTTP side of every Vapi module."""

    def __init__(self, module):
        self.module = module
        if not HAS_REQUESTS:
            module.fail_json(msg=missing_required_lib('requests'), exception=REQUESTS_IMP_ERR)
        params = module.params
        self.api_key = params['api_key']
        if not (self.api_key or '').strip():
            module.fail_json(msg='api_key is empty: set api_key or the VAPI_API_KEY environment variable '
                                 '(a private key of the Vapi organisation)')
        self.region = params['region']
        if params.get('api_url'):
            url = params['api_url'].rstrip('/')
            if not re.match(r'^https?://[^/\s]+', url):
                module.fail_json(msg="api_url must be an http(s) URL, got %r" % params['api_url'])
            self.base_url = url
        else:
            self.base_url = REGION_URLS[self.region]
        self.timeout = params['timeout']
        self.retries = params['retries']
        if self.timeout is None or self.timeout < 1:
            module.fail_json(msg='timeout must be at least 1 (seconds), got %r' % self.timeout)
        if self.retries is None or self.retries < 0:
            module.fail_json(msg='retries must be 0 or more, got %r' % self.retries)
        self.validate_certs = params['validate_certs']
        self.retry = VapiRetry(
            total=self.retries,
            backoff_factor=BACKOFF_FACTOR,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset(['GET', 'PATCH', 'DELETE']),
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=self.retry)
        self.session.mount('https://', adapter)
        self.session.mount('http://', adapter)
        self.session.headers.update({
            'Authorization': 'Bearer %s' % self.api_key,
            'Accept': 'application/json',
            'User-Agent': USER_AGENT,
        })
        self.calls = 0
        # path -> the last complete list read: listing_after() hands it back to the caller.
        self.listed = {}

    # ---- error text ----
    def scrub(self, text):
        """Text with the API key and every no_log value replaced."""
        text = '%s' % text
        secrets = set([self.api_key]) | set(getattr(self.module, 'no_log_values', set()) or set())
        for secret in sorted((s for s in secrets if s and len('%s' % s) >= 3), key=len, reverse=True):
            text = text.replace('%s' % secret, MASK)
        return text

    def _fail_text(self, method, path, detail):
        return self.scrub('Vapi API %s %s failed: %s' % (method, path, detail))

    # ---- HTTP ----
    def request(self, method, path, body=None, params=None, expect=(200, 201), allow_404=False):
        url = self.base_url + path
        self.calls += 1
        try:
            response = self.session.request(method, url, json=body, params=params,
                                            timeout=self.timeout, verify=self.validate_certs)
        except requests.exceptions.Timeout as exc:
            raise VapiError(self._fail_text(method, path, 'no answer within %ss (%s)' % (self.timeout, exc)),
                            ambiguous=False if _never_sent(exc) else IN_FLIGHT)
        except requests.exceptions.RetryError as exc:
            raise VapiError(self._fail_text(method, path, 'gave up after %d retries (%s)' % (self.retries, exc)),
                            ambiguous=ANSWERED)
        except requests.exceptions.ConnectionError as exc:
            # Read time-outs that outlast every retry arrive wrapped as a ConnectionError.
            what = ('no answer within %ss' % self.timeout if _reason(exc, ReadTimeoutError)
                    else 'cannot connect to %s' % self.base_url)
            raise VapiError(self._fail_text(method, path, '%s (%s)' % (what, exc)),
                            ambiguous=False if _never_sent(exc) else IN_FLIGHT)
        except requests.exceptions.RequestException as exc:
            raise VapiError(self._fail_text(method, path, '%s' % exc), ambiguous=IN_FLIGHT)

        status = response.status_code
        if status == 404 and allow_404:
            return None
        if status not in expect:
            raise self._status_error(method, path, response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            snippet = response.text[:200].replace('\n', ' ')
            raise VapiError(self._fail_text(method, path, 'HTTP %d with a body that is not JSON: %r' % (status, snippet)),
                            status=status)

    def _status_error(self, method, path, response):
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        message = _api_message(body) or (response.text[:200].strip() or response.reason or 'no message')
        detail = 'HTTP %d: %s' % (status, message)
        if status == 401:
            detail += ('. The API key was refused by %s: check that it is a private API key of an '
                       'organisation in region %r (keys are region-specific; EU organisations use '
                       'region=eu or api.eu.vapi.ai)' % (self.base_url, self.region))
        elif status in RETRY_STATUSES and (method != 'POST' or status == 429):
            detail += ' (gave up after %d retries)' % self.retries
        return VapiError(self._fail_text(method, path, detail), status=status,
                         ambiguous=ANSWERED if status >= 500 else False, body=body)

    # ---- resources ----
    def list(self, path, partial_ok=False):
        """Every item of a collection, through all pages.

        The v1 lists (GET /assistant, /phone-number, /credential) take limit (max 1000) and
        createdAt{Gt,Lt,Ge,Le} filters, and no cursor or page number; their sort order is not
        documented. So a full page is followed by pages bounded at the oldest createdAt seen
        (createdAtLe) and at the newest (createdAtGe), each direction until a page is short.
        The bounds are inclusive because items can share a millisecond; duplicates are dropped
        by id. Cost: one request for up to 999 items, else about N/1000 + 2.
        A list that cannot be proven complete (a full page that brings nothing new) raises a
        VapiError, because "not found" would then mean "create a duplicate"; partial_ok=True
        returns what was read with a warning instead (read-only callers).
        """
        first = self._page(path, {})
        if len(first) < LIST_LIMIT:
            self.listed[path] = first
            return first
        seen = dict((item.get('id'), item) for item in first)
        problem = None
        for bound, pick in (('createdAtLe', min), ('createdAtGe', max)):
            page = first
            for _round in range(MAX_PAGES):
                if len(page) < LIST_LIMIT:
                    break
                stamps = [item.get('createdAt') for item in page if item.get('createdAt')]
                if len(stamps) != len(page):
                    problem = 'items without createdAt, so no page bound can be set'
                    break
                page = self._page(path, {bound: pick(stamps)})
                fresh = [item for item in page if item.get('id') not in seen]
                if not fresh and len(page) >= LIST_LIMIT:
                    problem = 'a full page of %d items bounded by %s=%s brought nothing new (more than %d items share ' \
                              'that createdAt, or the API ignored the bound)' % (len(page), bound, pick(stamps), LIST_LIMIT)
                    break
                for item in fresh:
                    seen[item.get('id')] = item
            else:
                problem = 'more than %d pages' % MAX_PAGES
            if problem:
                break
        items = list(seen.values())
        if not problem:
            self.listed[path] = items
        if problem:
            text = 'GET %s: cannot list every item (%s); read %d' % (path, problem, len(items))
            if not partial_ok:
                raise VapiError(self._fail_text('GET', path, text + '. Nothing was created or changed: a missing item '
                                                'would have been created again as a duplicate. Set the id to skip the list.'))
            self.module.warn(text)
        return items

    def _page(self, path, bounds):
        params = dict(bounds, limit=LIST_LIMIT)
        items = self.request('GET', path, params=params)
        if not isinstance(items, list):
            raise VapiError(self._fail_text('GET', path, 'expected a JSON list, got %s' % type(items).__name__))
        return items

    def get(self, path, rid):
        return self.request('GET', '%s/%s' % (path, rid), allow_404=True)

    def update(self, path, rid, body):
        return self.request('PATCH', '%s/%s' % (path, rid), body=body, expect=(200,))

    def delete(self, path, rid):
        """DELETE; a 404 means it is already gone (e.g. an earlier attempt succeeded)."""
        return self.request('DELETE', '%s/%s' % (path, rid), expect=(200,), allow_404=True)

    def create(self, path, body, finder):
        """POST without duplicates.

        finder() lists again and returns the resource a create would have made, or None.
        After a 500/503 the server's work is over: adopt what it created, or POST again (counters
        and backoff from the same urllib3 Retry). After a 502/504 a proxy answered while the
        backend may still be creating: list again with exponential backoff (15 s in all) and
        adopt what lands, and only then POST again. After a timeout or a dropped connection the
        create may still be running too: the same waited lists, but never POST again in this
        run (a slow create would then be duplicated).
        """
        state = self.retry
        while True:
            try:
                return self.request('POST', path, body=body, expect=(200, 201))
            except VapiError as err:
                if not err.ambiguous:
                    raise
                error = err
            found = self._look_again(finder, error)
            if found is not None:
                self.module.warn('POST %s failed ambiguously (%s) but the resource exists: adopted id %s'
                                 % (path, error.message, found.get('id')))
                return found
            if error.ambiguous == IN_FLIGHT:
                raise VapiError(error.message + '. The create may still complete on the Vapi side, so it was not '
                                'sent again (that could duplicate it); run again to adopt it.', status=error.status)
            try:
                state = state.increment(method='POST', url=path)
            except MaxRetryError:
                raise error
            state.sleep()

    def _look_again(self, finder, error):
        if error.ambiguous != IN_FLIGHT and error.status not in GATEWAY_STATUSES:
            return finder()
        for poll in range(ADOPT_POLLS):
            time.sleep(min(BACKOFF_FACTOR * 2 ** poll, BACKOFF_MAX))
            found = finder()
            if found is not None:
                return found
        return None


def _reason(exc, kinds):
    """True when the urllib3 error underneath a requests exception is one of kinds."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, 'reason', reason)
    return isinstance(reason, kinds)


def _never_sent(exc):
    """True when the connection was never made, so the request cannot have reached the API."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    return _reason(exc, (NewConnectionError, ConnectTimeoutError))


# ---- validation (before any HTTP call) ----
def check_uuid(module, field, value):
    if value is not None and not UUID_RE.match(value):
        module.fail_json(msg='%s must be a UUID (like 3fa85f64-5717-4562-b3fc-2c963f66afa6), got %r' % (field, value))


def check_name(module, field, value, required=False):
    if value is None:
        if required:
            module.fail_json(msg='%s is required' % field)
        return
    if not value.strip() or len(value) > MAX_NAME:
        module.fail_json(msg='%s must be 1 to %d characters, got %r (%d characters)' % (field, MAX_NAME, value, len(value)))


def check_e164(module, field, value, strict=True):
    if value is None:
        return
    if strict and not E164_RE.match(value):
        module.fail_json(msg='%s must be an E.164 number like +14155550100 (plus, country code, up to 15 digits), got %r'
                         % (field, value))
    if not strict and not ALNUM_NUMBER_RE.match(value):
        module.fail_json(msg='%s must match ^\\+?[a-zA-Z0-9]+$ when the E.164 check is off, got %r' % (field, value))


def check_range(module, field, value, low, high):
    if value is not None and not low <= value <= high:
        module.fail_json(msg='%s must be between %s and %s, got %r' % (field, low, high, value))


def is_ipv4(value):
    try:
        ipaddress.IPv4Address(u'%s' % value)
    except ValueError:
        return False
    return True


def is_hostname(value):
    """A DNS name; an all-numeric last label (300.1.1.1) is a broken address, not a name."""
    value = (value or '').rstrip('.')
    return bool(HOSTNAME_RE.match(value)) and not value.rsplit('.', 1)[-1].isdigit()


# ---- comparison and presentation ----
def is_subset(desired, actual):
    """True when every key the user set has the same value in actual.

    Dicts are compared key by key (server-side defaults in actual never count as drift),
    lists are compared whole, numbers by value (300 == 300.0).
    """
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            return False
        return all(key in actual and is_subset(value, actual[key]) for key, value in desired.items())
    if isinstance(desired, list):
        return isinstance(actual, list) and len(desired) == len(actual) and desired == actual
    if isinstance(desired, bool) or isinstance(actual, bool):
        return desired is actual
    return desired == actual


def deep_merge(base, override):
    """override laid over base: dicts merged key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = copy.deepcopy(base)
        for key, value in override.items():
            out[key] = deep_merge(base.get(key), value)
        return out
    return copy.deepcopy(override)


def same_kind(current, value):
    """True when two objects of a oneOf are the same branch (same provider / type)."""
    return all(current.get(key) == value[key] for key in ('provider', 'type') if key in value)


def nested_patch(current, value):
    """The whole object to PATCH for one property: Vapi replaces nested objects, it never merges.

    Same provider (or type): what the user declared laid over what Vapi holds, so settings made
    elsewhere survive. Another provider: exactly what the user declared, since the old
    provider's settings are unknown properties to the new one (HTTP 400 "should not exist").
    """
    if isinstance(value, dict) and isinstance(current, dict) and same_kind(current, value):
        return deep_merge(current, value)
    return copy.deepcopy(value)


def mask_secrets(value):
    """A copy with secret-looking values masked (authPassword, server secrets, auth headers)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if item is not None and not isinstance(item, (dict, list)) and SECRET_KEY_RE.search('%s' % key):
                out[key] = MASK
            else:
                out[key] = mask_secrets(item)
        return out
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    return value


def diff_view(resource):
    """What diff mode shows of a resource: masked, without bookkeeping fields."""
    if not resource:
        return {}
    return mask_secrets(dict((k, v) for k, v in resource.items() if k not in DIFF_HIDDEN))


def server_body(server):
    """Vapi's Server object from the module's snake_case server option."""
    if server is None:
        return None
    body = {'url': server['url']}
    headers = dict(server.get('headers') or {})
    if server.get('secret') is not None:
        # Vapi sends the server secret to the webhook as the X-Vapi-Secret header.
        headers['X-Vapi-Secret'] = server['secret']
    if headers:
        body['headers'] = headers
    if server.get('timeout_seconds') is not None:
        body['timeoutSeconds'] = server['timeout_seconds']
    if server.get('credential_id') is not None:
        body['credentialId'] = server['credential_id']
    if server.get('backoff_plan') is not None:
        body['backoffPlan'] = server['backoff_plan']
    if server.get('static_ip_addresses_enabled') is not None:
        body['staticIpAddressesEnabled'] = server['static_ip_addresses_enabled']
    return body


def check_server(module, field, server):
    if server is None:
        return
    if not re.match(r'^https?://', server['url'] or ''):
        module.fail_json(msg='%s.url must be an http(s) URL, got %r' % (field, server['url']))
    check_range(module, '%s.timeout_seconds' % field, server.get('timeout_seconds'), 1, 300)


def find_unique(module, items, label, key_desc, predicate):
    """The one item matching predicate; fail on duplicates (Vapi does not enforce unique names)."""
    matches = [item for item in items if predicate(item)]
    if len(matches) > 1:
        module.fail_json(msg='%d Vapi %ss match %s (ids: %s); Vapi does not enforce unique values: '
                             'set id to choose one, or delete the duplicates'
                         % (len(matches), label, key_desc, ', '.join(sorted(str(m.get('id')) for m in matches))))
    return matches[0] if matches else None


def get_by_id(module, client, path, label, provider=None, provider_noun=None):
    """The resource the module's id option names. Fails when it belongs to another provider, or
    when it does not exist and state is present (an id is never created); None for absent."""
    p = module.params
    found = client.get(path, p['id'])
    if found is not None and provider is not None and found.get('provider') != provider:
        module.fail_json(msg='%s %s is a %r %s, not %s' % (label, p['id'], found.get('provider'), provider_noun, provider))
    if found is None and p['state'] == 'present':
        module.fail_json(msg='no Vapi %s with id %s (to create one, leave id unset)' % (label, p['id']))
    return found


def ensure(module, client, path, existing, create_body, patch_body, finder, view=None, public=None):
    """Create, update or leave one resource; honours check mode and builds the diff.

    Returns (changed, resource, diff) where resource is what the API holds afterwards
    (predicted in check mode: id None for a create). public(resource) turns a prediction
    into what the API would answer (for instance without write-only fields).
    """
    view = view or diff_view
    public = public or (lambda resource: resource)
    if existing is None:
        if module.check_mode:
            resource = public(dict(copy.deepcopy(create_body), id=None))
        else:
            resource = client.create(path, create_body, finder)
        return True, resource, {'before': {}, 'after': view(dict(create_body, **({'id': resource.get('id')})))}
    if not patch_body:
        return False, existing, {'before': view(existing), 'after': view(existing)}
    predicted = copy.deepcopy(existing)
    predicted.update(copy.deepcopy(patch_body))
    if module.check_mode:
        resource = public(copy.deepcopy(predicted))
    else:
        resource = client.update(path, existing['id'], patch_body)
    return True, resource, {'before': view(existing), 'after': view(predicted)}


def remove(module, client, path, existing, view=None):
    """Delete one resource if it exists; returns (changed, diff)."""
    view = view or diff_view
    if existing is None:
        return False, {'before': {}, 'after': {}}
    if not module.check_mode:
        client.delete(path, existing['id'])
    return True, {'before': view(existing), 'after': {}}


def listing_after(client, path, before, after):
    """The whole collection at path as it stands after this module's change, secrets masked.

    Reuses the list the lookup read (one request saved for a caller that would list the
    collection again, such as the vapi role's prune report); lists only when none was read
    (the resource was given by id). before: the resource found (None if none); after: what it
    is now (None or {} after a delete; id None for a create predicted in check mode).
    """
    items = client.listed.get(path)
    if items is None:
        items = client.list(path)
    gone = set(item.get('id') for item in (before, after) if item and item.get('id'))
    out = [item for item in items if item.get('id') not in gone]
    if after:
        out.append(after)
    return [mask_secrets(item) for item in out]


def fail_api(module, err, **result):
    module.fail_json(msg=err.message, status=err.status, **result)
