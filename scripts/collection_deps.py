"""Offline collection artifacts and dependency checks for scripts/package.sh.

No Galaxy server is reachable here, so the collections a built tarball depends on are taken
from an `ansible` package (its installed ansible_collections directory, or its wheel) and
written as collection artifacts that `ansible-galaxy collection install --offline` accepts.

  artifacts TARBALL|REQUIREMENTS.yml --source SRC --out DIR [--lowest]
      The dependency closure of the tarball's MANIFEST.json (or of a requirements file's
      collections) as artifacts in DIR, one path per line on stdout. A dependency missing
      from SRC or outside its declared range fails. With --lowest, each direct dependency
      of the tarball must be exactly the lower bound of its range (the tested lowest).
  refs COLLECTION_DIR --known SRC --installed PATH
      Every `namespace.collection.plugin` the shipped content names (roles, playbooks,
      plugins, meta) whose collection exists in SRC must be installed under PATH.
SRC is a directory holding ansible_collections/ (or the ansible_collections directory
itself) or an `ansible-*.whl` file.
"""
import argparse
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import zipfile

import yaml
from ansible.module_utils.compat.version import LooseVersion

SKIP_DIRS = {'__pycache__'}


class Source(object):
    """Installed collections of an `ansible` package: a directory or the wheel."""

    def __init__(self, path):
        self.path = path
        self.wheel = None
        if path.endswith('.whl'):
            self.wheel = zipfile.ZipFile(path)
            self.root = 'ansible_collections/'
            names = self.wheel.namelist()
            self.collections = sorted({tuple(n.split('/')[1:3]) for n in names
                                       if n.startswith(self.root) and n.endswith('/MANIFEST.json') and n.count('/') == 3})
        else:
            root = path if os.path.basename(path.rstrip('/')) == 'ansible_collections' else os.path.join(path, 'ansible_collections')
            self.root = root
            self.collections = sorted((ns, name) for ns in os.listdir(root) if os.path.isdir(os.path.join(root, ns))
                                      for name in os.listdir(os.path.join(root, ns))
                                      if os.path.isfile(os.path.join(root, ns, name, 'MANIFEST.json')))

    def manifest(self, fqcn):
        ns, name = fqcn.split('.')
        if (ns, name) not in self.collections:
            return None
        if self.wheel:
            data = self.wheel.read('%s%s/%s/MANIFEST.json' % (self.root, ns, name))
        else:
            with open(os.path.join(self.root, ns, name, 'MANIFEST.json'), 'rb') as f:
                data = f.read()
        return json.loads(data)['collection_info']

    def write_artifact(self, fqcn, out_dir):
        """<ns>-<name>-<version>.tar.gz with the collection's files at the archive root."""
        ns, name = fqcn.split('.')
        info = self.manifest(fqcn)
        dest = os.path.join(out_dir, '%s-%s-%s.tar.gz' % (ns, name, info['version']))
        tmp = None
        if self.wheel:
            tmp = tempfile.mkdtemp()
            prefix = '%s%s/%s/' % (self.root, ns, name)
            for member in self.wheel.namelist():
                if member.startswith(prefix) and not member.endswith('/'):
                    rel = member[len(prefix):]
                    target = os.path.join(tmp, rel)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with open(target, 'wb') as f:
                        f.write(self.wheel.read(member))
            src = tmp
        else:
            src = os.path.join(self.root, ns, name)
        try:
            # The `ansible` package leaves out a few files its collections' FILES.json lists
            # (dotfiles such as .isort.cfg); the artifact lists what it holds, as a build would.
            with open(os.path.join(src, 'FILES.json')) as f:
                files = json.load(f)
            files['files'] = [e for e in files['files'] if e['name'] == '.' or os.path.exists(os.path.join(src, e['name']))]
            files_data = json.dumps(files, indent=4).encode()
            with open(os.path.join(src, 'MANIFEST.json')) as f:
                manifest = json.load(f)
            manifest['file_manifest_file']['chksum_sha256'] = hashlib.sha256(files_data).hexdigest()
            manifest_data = json.dumps(manifest, indent=4).encode()
            with tarfile.open(dest, 'w:gz') as tar:
                for entry in sorted(os.listdir(src)):
                    if entry in SKIP_DIRS or entry in ('FILES.json', 'MANIFEST.json'):
                        continue
                    tar.add(os.path.join(src, entry), arcname=entry,
                            filter=lambda ti: None if os.path.basename(ti.name) in SKIP_DIRS else ti)
                for name, data in (('MANIFEST.json', manifest_data), ('FILES.json', files_data)):
                    info = tarfile.TarInfo(name)
                    info.size, info.mode = len(data), 0o644
                    tar.addfile(info, io.BytesIO(data))
        finally:
            if tmp:
                shutil.rmtree(tmp)
        return dest


def lower_bound(spec):
    m = re.search(r'>=\s*([0-9][^,\s]*)', spec or '')
    return m.group(1) if m else None


def in_range(version, spec):
    """ansible-galaxy's own range check (the install repeats it)."""
    if spec in (None, '', '*'):
        return True
    v = LooseVersion(version)
    for part in spec.split(','):
        m = re.match(r'\s*(>=|<=|==|!=|>|<|=)?\s*(\S+)\s*$', part)
        op, want = m.group(1) or '==', LooseVersion(m.group(2))
        ok = {'>=': v >= want, '<=': v <= want, '>': v > want, '<': v < want,
              '==': v == want, '=': v == want, '!=': v != want}[op]
        if not ok:
            return False
    return True


def tarball_manifest(path):
    with tarfile.open(path) as tar:
        return json.load(tar.extractfile('MANIFEST.json'))['collection_info']


def cmd_artifacts(args):
    source = Source(args.source)
    if args.target.endswith(('.yml', '.yaml')):
        with open(args.target) as f:
            reqs = yaml.safe_load(f)['collections']
        direct = {r['name']: r.get('version', '*') for r in reqs}
        origin = args.target
    else:
        info = tarball_manifest(args.target)
        direct = info['dependencies'] or {}
        origin = '%s.%s %s' % (info['namespace'], info['name'], info['version'])
    errors = []
    if args.lowest:
        for fqcn, spec in sorted(direct.items()):
            want = lower_bound(spec)
            have = (source.manifest(fqcn) or {}).get('version')
            if want is None:
                errors.append('%s: %s has no lower bound (">=X") to test' % (fqcn, spec))
            elif have != want:
                errors.append('%s: the declared lower bound is %s but %s holds %s; the lowest tested version '
                              'must be the lower bound (change galaxy.yml or the lowest ansible release in '
                              'scripts/package.sh)' % (fqcn, want, os.path.basename(args.source), have))
    todo = sorted(direct.items())
    seen = {}
    while todo:
        fqcn, spec = todo.pop(0)
        info = source.manifest(fqcn)
        if info is None:
            errors.append('%s (required %s by %s) is not in %s' % (fqcn, spec, origin, args.source))
            continue
        if not in_range(info['version'], spec):
            errors.append('%s %s is outside the range %s required by %s' % (fqcn, info['version'], spec, origin))
            continue
        if fqcn in seen:
            continue
        seen[fqcn] = info['version']
        todo.extend(sorted((info.get('dependencies') or {}).items()))
    if errors:
        sys.exit('\n'.join('ERROR: ' + e for e in errors))
    os.makedirs(args.out, exist_ok=True)
    for fqcn in sorted(seen):
        print(source.write_artifact(fqcn, args.out))


FQCN_RE = re.compile(r'(?<![\w.])([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.([a-z_][a-z0-9_]*)(?![\w])')
SCAN_DIRS = ('roles', 'playbooks', 'plugins', 'meta')
SCAN_EXT = ('.yml', '.yaml', '.j2', '.py', '.json')


def cmd_refs(args):
    known = {'%s.%s' % c for c in Source(args.known).collections}
    installed = set()
    for path in args.installed.split(os.pathsep):
        root = os.path.join(path, 'ansible_collections')
        if os.path.isdir(root):
            installed |= {'%s.%s' % (ns, name) for ns in os.listdir(root) for name in os.listdir(os.path.join(root, ns))
                          if os.path.isfile(os.path.join(root, ns, name, 'MANIFEST.json'))}
    own = os.path.basename(os.path.dirname(args.collection.rstrip('/'))) + '.' + os.path.basename(args.collection.rstrip('/'))
    used, missing = {}, []
    for top in SCAN_DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(args.collection, top)):
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
            for fn in filenames:
                if not fn.endswith(SCAN_EXT):
                    continue
                path = os.path.join(dirpath, fn)
                with io.open(path, encoding='utf-8', errors='replace') as f:
                    for lineno, line in enumerate(f, 1):
                        for m in FQCN_RE.finditer(line):
                            coll = '%s.%s' % (m.group(1), m.group(2))
                            if coll in known and coll != own:
                                used.setdefault(coll, set()).add(m.group(0))
                                if coll not in installed:
                                    missing.append('%s:%d: %s (collection %s is not installed: not declared in galaxy.yml?)'
                                                   % (os.path.relpath(path, args.collection), lineno, m.group(0), coll))
    for coll in sorted(used):
        print('%s: %s' % (coll, ', '.join(sorted(used[coll]))))
    if missing:
        sys.exit('\n'.join('ERROR: ' + e for e in missing))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('artifacts')
    p.add_argument('target')
    p.add_argument('--source', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--lowest', action='store_true')
    p.set_defaults(func=cmd_artifacts)
    p = sub.add_parser('refs')
    p.add_argument('collection')
    p.add_argument('--known', required=True)
    p.add_argument('--installed', required=True)
    p.set_defaults(func=cmd_refs)
    args = parser.parse_args()
    args.func(args)


if __name__ == '__main__':
    main()
