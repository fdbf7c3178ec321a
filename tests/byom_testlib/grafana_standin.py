# -*- coding: utf-8 -*-
"""A Grafana HTTP API stand-in for the endpoints community.grafana (2.3.0) calls.

No Grafana can be installed here (not in Debian's archive, not on PyPI), so the monitoring role's
API tasks run against this server. It keeps what a Grafana keeps (data sources, folders,
dashboards with id/uid/version) and answers with Grafana's shapes and status codes. Where each
behaviour comes from:

- Auth: every /api/ call but /api/health needs ``Authorization: Bearer <token>``; otherwise 401
  ``{"message": "Invalid API key"}`` (Grafana HTTP API docs, "Authentication"; the modules send
  ``Bearer <grafana_api_key>`` - grafana_datasource.GrafanaInterface, grafana_dashboard.grafana_headers,
  grafana_folder.GrafanaFolderInterface - and turn 401 into "Unauthorized to perform action ...").
- Version: ``GET /api/health`` -> ``{"database": "ok", "version": ...}`` (read by grafana_folder
  get_version) and ``GET /api/frontend/settings`` -> ``buildInfo.version`` (grafana_dashboard
  get_grafana_version); both parsed by module_utils.base.parse_grafana_version.
- Data sources (Grafana docs "Data source API"): ``GET /api/datasources/name/:name`` 200 with the
  data source or 404 ``{"message": "Data source not found"}``; ``POST /api/datasources`` 200
  ``{"datasource", "id", "message": "Datasource added", "name"}``, 409 when the name exists;
  ``PUT /api/datasources/:id`` 200 ``"Datasource updated"``, version + 1. The stored data source has
  the fields the docs show (id, uid, orgId, typeLogoUrl, basicAuth, readOnly, version, jsonData,
  secureJsonFields instead of secureJsonData: Grafana never returns secrets); grafana_datasource's
  compare_datasources drops exactly the fields Grafana adds, so a faithful shape keeps it quiet.
- Folders (docs "Folder API"): ``GET /api/folders`` lists ``{id, uid, title}``; ``POST /api/folders``
  with ``{title, uid}`` creates one (uid generated when absent), 409 when the title or uid exists.
- Dashboards (docs "Dashboard API"): ``GET /api/dashboards/uid/:uid`` -> ``{"dashboard", "meta"}``
  (meta has folderId, folderUid, folderTitle, version) or 404 ``{"message": "Dashboard not found"}``;
  ``POST /api/dashboards/db`` with ``{dashboard, folderId | folderUid, overwrite}`` creates (version
  1) or updates (version + 1; id and uid kept) and answers ``{id, uid, url, status: "success",
  version, slug}``; without folderId/folderUid the dashboard goes to the General folder (id 0, docs
  v8.5+); an unknown folder is 400 ``"folder not found"``; an update whose version differs from the
  stored one without ``overwrite`` is 412 ``{"status": "version-mismatch"}``, and another dashboard
  with the same title in the folder is 412 ``{"status": "name-exists"}``. The stored JSON is what
  was posted with id, uid and version set, as Grafana stores it. ``GET /api/search`` filters by
  ``query`` (title substring) and ``folderIds``.

Every request is recorded in ``requests`` (method, path) so a test can tell whether anything was
written. The server binds 127.0.0.1 only.
"""
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

VERSION = '11.3.0'
WRITES = ('POST', 'PUT', 'DELETE', 'PATCH')


class GrafanaState(object):
    """What a Grafana keeps for one organisation."""

    def __init__(self):
        self.datasources = {}   # id -> data source
        self.folders = {}       # id -> folder
        self.dashboards = {}    # uid -> {"dashboard": ..., "folderId": ...}
        self.requests = []      # (method, path)
        self._next_id = 1

    def next_id(self):
        self._next_id += 1
        return self._next_id - 1

    def writes(self):
        return [r for r in self.requests if r[0] in WRITES]

    def datasource(self, name):
        return next((d for d in self.datasources.values() if d['name'] == name), None)

    def folder(self, key):
        return next((f for f in self.folders.values() if key in (f['title'], f['uid'])), None)


class Handler(BaseHTTPRequestHandler):
    server_version = 'grafana-standin'

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Quiet: pytest shows the assertions, not an access log."""

    @property
    def state(self):
        return self.server.state

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get('Content-Length') or 0)
        return json.loads(self.rfile.read(length) or b'{}')

    def authorised(self):
        return self.headers.get('Authorization') == 'Bearer %s' % self.server.token

    def handle_any(self, method):
        url = urlsplit(self.path)
        path, query = url.path.rstrip('/'), parse_qs(url.query)
        self.state.requests.append((method, path))
        if path == '/api/health' and method == 'GET':
            return self.reply(200, {'commit': 'standin', 'database': 'ok', 'version': VERSION})
        if not self.authorised():
            return self.reply(401, {'message': 'Invalid API key', 'messageId': 'api-key.invalid', 'statusCode': 401})
        route = ROUTES.get((method, re.sub(r'/[^/]+$', '/:x', path) if (method, path) not in ROUTES else path))
        if route is None:
            return self.reply(404, {'message': 'Not found'})
        status, body = route(self, unquote(path.rsplit('/', 1)[-1]), query)
        return self.reply(status, body)

    def do_GET(self):  # noqa: N802 (http.server's names)
        self.handle_any('GET')

    def do_POST(self):  # noqa: N802
        self.handle_any('POST')

    def do_PUT(self):  # noqa: N802
        self.handle_any('PUT')

    def do_DELETE(self):  # noqa: N802
        self.handle_any('DELETE')

    # ------------------------------------------------------------------ endpoints
    def frontend_settings(self, _last, _query):
        return 200, {'buildInfo': {'version': VERSION, 'commit': 'standin', 'edition': 'Open Source'}}

    def datasource_by_name(self, name, _query):
        ds = self.state.datasource(name)
        return (200, ds) if ds else (404, {'message': 'Data source not found'})

    def datasource_create(self, _last, _query):
        new = self.body()
        if self.state.datasource(new.get('name')):
            return 409, {'message': 'data source with the same name already exists'}
        ds_id = self.state.next_id()
        ds = self._datasource_record(new, ds_id, version=1)
        self.state.datasources[ds_id] = ds
        return 200, {'datasource': ds, 'id': ds_id, 'message': 'Datasource added', 'name': ds['name']}

    def datasource_update(self, ds_id, _query):
        current = self.state.datasources.get(int(ds_id)) if ds_id.isdigit() else None
        if current is None:
            return 404, {'message': 'Data source not found'}
        ds = self._datasource_record(self.body(), current['id'], version=current['version'] + 1, uid=current['uid'])
        self.state.datasources[current['id']] = ds
        return 200, {'datasource': ds, 'id': ds['id'], 'message': 'Datasource updated', 'name': ds['name']}

    @staticmethod
    def _datasource_record(new, ds_id, version, uid=None):
        secure = new.get('secureJsonData') or {}
        return {
            'id': ds_id, 'uid': new.get('uid') or uid or uuid.uuid4().hex[:14], 'orgId': new.get('orgId') or 1,
            'name': new['name'], 'type': new['type'], 'typeLogoUrl': 'public/app/plugins/datasource/%s/img/logo.svg' % new['type'],
            'access': new.get('access', 'proxy'), 'url': new.get('url', ''), 'user': new.get('user', ''),
            'database': new.get('database', ''), 'basicAuth': bool(new.get('basicAuth')),
            'basicAuthUser': new.get('basicAuthUser', ''), 'withCredentials': bool(new.get('withCredentials')),
            'isDefault': bool(new.get('isDefault')), 'jsonData': new.get('jsonData') or {},
            'secureJsonFields': {k: True for k in secure}, 'version': version, 'readOnly': False,
        }

    def folders_list(self, _last, query):
        parent = (query.get('parentUid') or [None])[0]
        return 200, [{'id': f['id'], 'uid': f['uid'], 'title': f['title']}
                     for f in self.state.folders.values() if f.get('parentUid') == parent]

    def folder_create(self, _last, _query):
        new = self.body()
        title, uid = new.get('title'), new.get('uid') or uuid.uuid4().hex[:14]
        if not title:
            return 400, {'message': 'folder title cannot be empty'}
        if self.state.folder(title) or self.state.folder(uid):
            return 409, {'message': 'a folder with the same name or uid already exists'}
        f_id = self.state.next_id()
        folder = {'id': f_id, 'uid': uid, 'title': title, 'url': '/dashboards/f/%s/' % uid, 'version': 1,
                  'parentUid': new.get('parentUid')}
        self.state.folders[f_id] = folder
        return 200, folder

    def dashboard_by_uid(self, uid, _query):
        stored = self.state.dashboards.get(uid)
        if stored is None:
            return 404, {'message': 'Dashboard not found'}
        folder = self.state.folders.get(stored['folderId'])
        meta = {'type': 'db', 'slug': slug(stored['dashboard']['title']), 'version': stored['dashboard']['version'],
                'folderId': stored['folderId'], 'folderUid': folder['uid'] if folder else '',
                'folderTitle': folder['title'] if folder else 'General', 'provisioned': False}
        return 200, {'dashboard': json.loads(json.dumps(stored['dashboard'])), 'meta': meta}

    def dashboard_save(self, _last, _query):
        body = self.body()
        dash = body.get('dashboard') or {}
        if not dash.get('title'):
            return 400, {'message': 'Dashboard title cannot be empty', 'status': 'empty-name'}
        folder_id = body.get('folderId') or 0
        if body.get('folderUid'):
            folder = self.state.folder(body['folderUid'])
            if folder is None:
                return 400, {'message': 'folder not found', 'status': 'not-found'}
            folder_id = folder['id']
        if folder_id and folder_id not in self.state.folders:
            return 400, {'message': 'folder not found', 'status': 'not-found'}
        uid = dash.get('uid') or uuid.uuid4().hex[:14]
        current = self.state.dashboards.get(uid)
        for other_uid, other in self.state.dashboards.items():
            if other_uid != uid and other['folderId'] == folder_id and other['dashboard']['title'] == dash['title'] \
                    and not body.get('overwrite'):
                return 412, {'message': 'A dashboard with the same name in the folder already exists', 'status': 'name-exists'}
        if current is not None and not body.get('overwrite') and dash.get('version') != current['dashboard']['version']:
            return 412, {'message': 'The dashboard has been changed by someone else', 'status': 'version-mismatch'}
        stored = json.loads(json.dumps(dash))
        stored['uid'] = uid
        stored['id'] = current['dashboard']['id'] if current else self.state.next_id()
        stored['version'] = current['dashboard']['version'] + 1 if current else 1
        self.state.dashboards[uid] = {'dashboard': stored, 'folderId': folder_id}
        return 200, {'id': stored['id'], 'uid': uid, 'url': '/d/%s/%s' % (uid, slug(stored['title'])),
                     'status': 'success', 'version': stored['version'], 'slug': slug(stored['title'])}

    def search(self, _last, query):
        text = (query.get('query') or [''])[0].lower()
        folder_ids = {int(i) for i in query.get('folderIds', [])}
        return 200, [{'id': d['dashboard']['id'], 'uid': uid, 'title': d['dashboard']['title'], 'type': 'dash-db',
                      'folderId': d['folderId']}
                     for uid, d in self.state.dashboards.items()
                     if text in d['dashboard']['title'].lower() and (not folder_ids or d['folderId'] in folder_ids)]


def slug(title):
    return re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')


ROUTES = {
    ('GET', '/api/frontend/settings'): Handler.frontend_settings,
    ('GET', '/api/datasources/name/:x'): Handler.datasource_by_name,
    ('POST', '/api/datasources'): Handler.datasource_create,
    ('PUT', '/api/datasources/:x'): Handler.datasource_update,
    ('GET', '/api/folders'): Handler.folders_list,
    ('POST', '/api/folders'): Handler.folder_create,
    ('GET', '/api/dashboards/uid/:x'): Handler.dashboard_by_uid,
    ('POST', '/api/dashboards/db'): Handler.dashboard_save,
    ('GET', '/api/search'): Handler.search,
}


class GrafanaStandIn(object):
    """``with GrafanaStandIn(token) as grafana:`` serves on ``grafana.url`` until the block ends.

    The port is the kernel's choice (port 0) unless given: the integration lanes run side by
    side, and a fixed port collided with another lane's Vapi emulator."""

    def __init__(self, token, port=0):
        self.httpd = ThreadingHTTPServer(('127.0.0.1', port), Handler)
        self.httpd.token = token
        self.httpd.state = GrafanaState()
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def state(self):
        return self.httpd.state

    def reset(self):
        self.httpd.state = GrafanaState()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
