# SPDX-License-Identifier: GPL-2.0
"""Tests of tools/cgroup/pins_report.py.

Run: python3 -m unittest -v test_pins_report

The tool is $PINS_REPORT, or else $KSRC/tools/cgroup/pins_report.py.

SyntheticTree* build cgroup and proc trees of plain files in a temporary
directory and check the tool's --json and human output against them.

SnapshotTest runs only when $PINS_SNAPSHOT names a directory, which the
guest captures while pins are held:

  $PINS_SNAPSHOT/cgroup/   a copy of /sys/fs/cgroup as plain files: every
                           cgroup directory with its cgroup.controllers,
                           cgroup.subtree_control, cgroup.procs and pins.*
  $PINS_SNAPSHOT/proc/     PID/status for the processes of cgroup.procs
  $PINS_SNAPSHOT/expect    what the tool must report, one line each:

    # a comment; blank lines are ignored too
    cgroup PATH KEY=VALUE...
        The cgroup PATH ("/" or "/a/b", relative to the cgroup root) is
        in `--json --all` and each KEY has VALUE there: KEY is one of
        current, max, peak, refused, refused_local, enabled, or a
        pins.stat source (mlock, io_uring ...), compared with the
        entry's "stat".  VALUE is a decimal integer, "max" or "null"
        (JSON null), or "true"/"false".
        e.g. cgroup /pins-ct/ct1 current=50331648 max=67108864 refused=1
             mlock=50331648 io_uring=0
    pid PID KEY=VALUE...
        The process PID is in `--json --all -p` and each KEY has VALUE
        in its entry: KEY is one of cgroup, comm, vmlck, vmpin; VALUE
        of cgroup and comm is compared as a string.
        e.g. pid 123 cgroup=/pins-ct/ct1 comm=pinner vmlck=50331648 vmpin=0
    order PATH PATH...
        These cgroups (siblings) appear in this order in the human
        output of `--all`.
    shown PATH...
        These cgroups appear in the default output (no --all).
    hidden PATH...
        These cgroups do not appear in the default output.
"""

import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

K = 1024
M = 1024 * K

SOURCES = ('mlock', 'shm', 'secretmem', 'io_uring', 'zerocopy', 'xdp',
           'perf', 'vfio', 'iommufd', 'vdpa', 'rdma', 'other')


def tool_path():
    path = os.environ.get('PINS_REPORT')
    if not path:
        ksrc = os.environ.get('KSRC')
        if not ksrc:
            raise RuntimeError('set PINS_REPORT to pins_report.py or KSRC '
                               'to the kernel tree')
        path = os.path.join(ksrc, 'tools', 'cgroup', 'pins_report.py')
    if not os.path.isfile(path):
        raise RuntimeError('no pins_report.py at %s' % path)
    return path


TOOL = None


def setUpModule():
    global TOOL
    TOOL = tool_path()


def run_tool(*args):
    r = subprocess.run([sys.executable, TOOL] + list(args),
                       capture_output=True, text=True, timeout=60)
    return r


def tree_paths(text):
    """The cgroup paths of human output (without -p), in order."""
    lines = text.splitlines()
    stack = []
    paths = []
    for line in lines[1:]:
        depth = (len(line) - len(line.lstrip(' '))) // 2
        name = line.split()[0]
        del stack[depth:]
        stack.append(name)
        paths.append('/' if depth == 0 else '/' + '/'.join(stack[1:]))
    return paths


class Tree:
    """A synthetic cgroup2 mount and /proc, as plain files."""

    def __init__(self, base):
        self.cg = os.path.join(base, 'cgroup')
        self.proc = os.path.join(base, 'proc')
        os.makedirs(self.cg)
        os.makedirs(self.proc)

    def write(self, path, text):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)

    def cgroup(self, path, pins=True, current=0, limit='max', peak=0,
               refused=0, local=0, stat=None, procs=(),
               controllers='cpu io memory pids pins', subtree='pins'):
        d = os.path.join(self.cg, path.strip('/'))
        root = path == '/'
        os.makedirs(d, exist_ok=True)
        self.write(os.path.join(d, 'cgroup.controllers'), controllers + '\n')
        self.write(os.path.join(d, 'cgroup.subtree_control'), subtree + '\n')
        self.write(os.path.join(d, 'cgroup.procs'),
                   ''.join('%d\n' % p for p in procs))
        if not pins:
            return
        stat = stat or {}
        self.write(os.path.join(d, 'pins.current'), '%d\n' % current)
        self.write(os.path.join(d, 'pins.stat'),
                   ''.join('%s %d\n' % (s, stat.get(s, 0)) for s in SOURCES))
        if root:
            return
        self.write(os.path.join(d, 'pins.max'),
                   limit + '\n' if isinstance(limit, str) else
                   '%d\n' % limit)
        self.write(os.path.join(d, 'pins.peak'), '%d\n' % peak)
        self.write(os.path.join(d, 'pins.events'), 'max %d\n' % refused)
        self.write(os.path.join(d, 'pins.events.local'), 'max %d\n' % local)

    def process(self, pid, name, vmlck=0, vmpin=0, kthread=False):
        lines = ['Name:\t%s' % name, 'Umask:\t0022', 'State:\tS (sleeping)',
                 'Tgid:\t%d' % pid, 'Pid:\t%d' % pid]
        if not kthread:
            lines += ['VmPeak:\t   10000 kB', 'VmSize:\t   10000 kB',
                      'VmLck:\t%8d kB' % (vmlck // K),
                      'VmPin:\t%8d kB' % (vmpin // K),
                      'VmHWM:\t    2000 kB']
        lines += ['Threads:\t1', '']
        self.write(os.path.join(self.proc, str(pid), 'status'),
                   '\n'.join(lines))


def build_host(tree):
    """The host the synthetic tests look at.

    /                      72M: mlock 56M, io_uring 16M (whole host)
      pins-ct              64M, max, peak 64M, refused 1 (by web's limit)
        web                48M of 64M, peak 64M, refused 1 local 1
          inner            no pins (web's subtree_control lacks it)
        db                 16M io_uring, peak 16M
        aa, zz             0 now, peaks 8M and 4M: shown, ties by name
        idle               nothing ever: hidden
      system.slice         0: hidden
        ssh.service        0, pins enabled, process with 8M locked
    """
    tree.cgroup('/', current=72 * M,
                stat={'mlock': 56 * M, 'io_uring': 16 * M},
                procs=[2, 1], subtree='memory pins')
    tree.cgroup('/pins-ct', current=64 * M, peak=64 * M, refused=1,
                stat={'mlock': 48 * M, 'io_uring': 16 * M})
    tree.cgroup('/pins-ct/web', current=48 * M, limit=64 * M, peak=64 * M,
                refused=1, local=1, stat={'mlock': 48 * M},
                procs=[101, 102, 999], subtree='memory')
    tree.cgroup('/pins-ct/web/inner', pins=False, procs=[103, 104],
                controllers='memory', subtree='')
    tree.cgroup('/pins-ct/db', current=16 * M, peak=16 * M,
                stat={'io_uring': 16 * M}, procs=[201])
    tree.cgroup('/pins-ct/zz', peak=4 * M)
    tree.cgroup('/pins-ct/aa', peak=8 * M)
    tree.cgroup('/pins-ct/idle', procs=[301])
    tree.cgroup('/system.slice')
    tree.cgroup('/system.slice/ssh.service', procs=[400, 401])
    tree.process(1, 'systemd')
    tree.process(2, 'kthreadd', kthread=True)
    tree.process(101, 'locker', vmlck=44 * M)
    tree.process(102, 'sleeper')
    # 999 is in cgroup.procs but has exited: no status file.
    tree.process(103, 'inner locker', vmlck=4 * M)
    tree.process(104, 'inner idle')
    tree.process(201, 'uring', vmpin=0)
    tree.process(301, 'idler')
    tree.process(400, 'sshd', vmlck=8 * M)
    tree.process(401, 'sshd-session')


class TreeTestCase(unittest.TestCase):
    def setUp(self):
        self.base = tempfile.mkdtemp(prefix='pins_report.')
        self.addCleanup(shutil.rmtree, self.base)
        self.tree = Tree(self.base)
        build_host(self.tree)

    def run_ok(self, *args):
        r = run_tool('--root', self.tree.cg, '--proc', self.tree.proc, *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, '')
        return r.stdout

    def json(self, *args):
        data = json.loads(self.run_ok('--json', *args))
        return {c['path']: c for c in data}, [c['path'] for c in data]


class SyntheticTreeJson(TreeTestCase):
    def test_default_shows_active_cgroups_in_usage_order(self):
        _, order = self.json()
        self.assertEqual(order, ['/', '/pins-ct', '/pins-ct/web',
                                 '/pins-ct/db', '/pins-ct/aa',
                                 '/pins-ct/zz'])

    def test_root_has_host_total_and_no_limit_files(self):
        cg, _ = self.json()
        root = cg['/']
        self.assertEqual(root['current'], 72 * M)
        self.assertIsNone(root['max'])
        self.assertIsNone(root['peak'])
        self.assertIsNone(root['refused'])
        self.assertIsNone(root['refused_local'])
        self.assertEqual(root['stat']['mlock'], 56 * M)
        self.assertEqual(root['stat']['io_uring'], 16 * M)
        self.assertEqual(list(root['stat']), list(SOURCES))

    def test_cgroup_fields(self):
        cg, _ = self.json()
        web = cg['/pins-ct/web']
        self.assertEqual(web['current'], 48 * M)
        self.assertEqual(web['max'], 64 * M)
        self.assertEqual(web['peak'], 64 * M)
        self.assertEqual(web['refused'], 1)
        self.assertEqual(web['refused_local'], 1)
        self.assertTrue(web['enabled'])
        self.assertEqual(web['stat']['mlock'], 48 * M)
        ct = cg['/pins-ct']
        self.assertIsNone(ct['max'])
        self.assertEqual((ct['refused'], ct['refused_local']), (1, 0))
        self.assertNotIn('processes', ct)

    def test_all_shows_every_cgroup(self):
        cg, order = self.json('--all')
        self.assertEqual(order, ['/', '/pins-ct', '/pins-ct/web',
                                 '/pins-ct/web/inner', '/pins-ct/db',
                                 '/pins-ct/aa', '/pins-ct/idle',
                                 '/pins-ct/zz', '/system.slice',
                                 '/system.slice/ssh.service'])
        inner = cg['/pins-ct/web/inner']
        self.assertFalse(inner['enabled'])
        for key in ('current', 'max', 'peak', 'refused', 'refused_local'):
            self.assertIsNone(inner[key], key)
        self.assertEqual(inner['stat'], {})
        self.assertEqual(cg['/pins-ct/idle']['current'], 0)

    def test_processes(self):
        cg, _ = self.json('-p')
        procs = {c: [(p['pid'], p['comm'], p['cgroup'], p['vmlck'],
                      p['vmpin']) for p in cg[c]['processes']] for c in cg}
        self.assertEqual(procs['/pins-ct/web'], [
            (101, 'locker', '/pins-ct/web', 44 * M, 0),
            (103, 'inner locker', '/pins-ct/web/inner', 4 * M, 0),
            (102, 'sleeper', '/pins-ct/web', 0, 0)])
        self.assertEqual(procs['/pins-ct/db'],
                         [(201, 'uring', '/pins-ct/db', 0, 0)])
        # The root's own processes only if they lock, but those of
        # hidden cgroups that do are listed under it.
        self.assertEqual(procs['/'], [
            (400, 'sshd', '/system.slice/ssh.service', 8 * M, 0)])
        self.assertEqual(procs['/pins-ct'], [])

    def test_all_processes(self):
        cg, _ = self.json('-p', '--all')
        pids = {p['pid']: (c, p['cgroup']) for c in cg
                for p in cg[c]['processes']}
        self.assertEqual(sorted(pids), [1, 2, 101, 102, 103, 104, 201, 301,
                                        400, 401])
        for pid, (listed, own) in pids.items():
            self.assertEqual(listed, own, pid)
        kthreadd = [p for p in cg['/']['processes'] if p['pid'] == 2][0]
        self.assertEqual((kthreadd['vmlck'], kthreadd['vmpin']), (0, 0))

    def test_vanished_pid_is_skipped(self):
        cg, _ = self.json('-p', '--all')
        pids = [p['pid'] for p in cg['/pins-ct/web']['processes']]
        self.assertNotIn(999, pids)


class SyntheticTreeText(TreeTestCase):
    def test_header_and_tree(self):
        out = self.run_ok()
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ['CGROUP', 'CURRENT', 'MAX',
                                            'PEAK', 'REFUSED', 'LOCAL',
                                            'SOURCES'])
        self.assertEqual(tree_paths(out), ['/', '/pins-ct', '/pins-ct/web',
                                           '/pins-ct/db', '/pins-ct/aa',
                                           '/pins-ct/zz'])

    def test_units_and_columns(self):
        rows = {line.split()[0]: line.split()
                for line in self.run_ok().splitlines()[1:]}
        self.assertEqual(rows['/'], ['/', '72.0M', '-', '-', '-', '-',
                                     'mlock=56.0M', 'io_uring=16.0M'])
        self.assertEqual(rows['pins-ct'], ['pins-ct', '64.0M', 'max',
                                           '64.0M', '1', '0',
                                           'mlock=48.0M', 'io_uring=16.0M'])
        self.assertEqual(rows['web'], ['web', '48.0M', '64.0M', '64.0M',
                                       '1', '1', 'mlock=48.0M'])
        self.assertEqual(rows['aa'], ['aa', '0', 'max', '8.0M', '0', '0'])

    def test_bytes(self):
        rows = {line.split()[0]: line.split()
                for line in self.run_ok('--bytes').splitlines()[1:]}
        self.assertEqual(rows['web'], ['web', str(48 * M), str(64 * M),
                                       str(64 * M), '1', '1',
                                       'mlock=%d' % (48 * M)])

    def test_indentation(self):
        lines = self.run_ok().splitlines()
        web = [x for x in lines if x.split()[0] == 'web'][0]
        self.assertTrue(web.startswith('    web '), web)

    def test_all(self):
        out = self.run_ok('--all')
        self.assertEqual(tree_paths(out)[3], '/pins-ct/web/inner')
        inner = [x for x in out.splitlines() if x.split()[0] == 'inner'][0]
        self.assertEqual(inner.split(), ['inner', '-', '-', '-', '-', '-'])

    def test_processes(self):
        lines = self.run_ok('-p').splitlines()
        names = [x.split()[0] for x in lines]
        web = names.index('web')
        self.assertEqual(lines[web + 1].split(),
                         ['101', 'locker', 'VmLck=44.0M', 'VmPin=0'])
        self.assertEqual(lines[web + 2].split(),
                         ['103', 'inner', 'locker', 'VmLck=4.0M', 'VmPin=0',
                          'in', '/pins-ct/web/inner'])
        self.assertEqual(lines[web + 3].split(),
                         ['102', 'sleeper', 'VmLck=0', 'VmPin=0'])
        self.assertEqual(names[web + 4], 'db')
        self.assertTrue(lines[web + 1].startswith('      101 '))
        self.assertEqual(lines[1].split()[0], '/')
        self.assertEqual(lines[2].split(),
                         ['400', 'sshd', 'VmLck=8.0M', 'VmPin=0', 'in',
                          '/system.slice/ssh.service'])
        self.assertNotIn('999', names)
        self.assertNotIn('kthreadd', ' '.join(lines))


class SyntheticTreeErrors(unittest.TestCase):
    def setUp(self):
        self.base = tempfile.mkdtemp(prefix='pins_report.')
        self.addCleanup(shutil.rmtree, self.base)

    def check_error(self, r, code, words):
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)
        self.assertNotIn('Traceback', r.stderr)
        self.assertEqual(r.stdout, '')
        for w in words:
            self.assertIn(w, r.stderr)

    def test_no_controller(self):
        tree = Tree(self.base)
        tree.cgroup('/', pins=False, controllers='cpu io memory pids',
                    subtree='memory')
        r = run_tool('--root', tree.cg)
        self.check_error(r, 1, ['no pins controller', 'CONFIG_CGROUP_PINS'])

    def test_missing_root(self):
        r = run_tool('--root', os.path.join(self.base, 'nowhere'))
        self.check_error(r, 1, ['nowhere'])

    def test_root_not_a_cgroup(self):
        r = run_tool('--root', self.base)
        self.check_error(r, 1, ['not a cgroup v2 hierarchy'])

    def test_root_is_a_file(self):
        path = os.path.join(self.base, 'file')
        open(path, 'w').close()
        r = run_tool('--root', path)
        self.check_error(r, 1, ['file'])

    def test_bad_option(self):
        r = run_tool('--no-such-option')
        self.check_error(r, 2, ['usage'])

    def test_help(self):
        r = run_tool('--help')
        self.assertEqual(r.returncode, 0)
        for opt in ('--root', '--proc', '--processes', '--all', '--json',
                    '--bytes'):
            self.assertIn(opt, r.stdout)


class SyntheticTreeVanishing(unittest.TestCase):
    """A cgroup or process removed while it is read (ENODEV, ESRCH)."""

    def setUp(self):
        self.base = tempfile.mkdtemp(prefix='pins_report.')
        self.addCleanup(shutil.rmtree, self.base)
        self.tree = Tree(self.base)
        build_host(self.tree)
        spec = importlib.util.spec_from_file_location('pins_report', TOOL)
        self.mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.mod)

    def run_main(self, fail, err):
        real_open = open

        def fake_open(path, *args, **kwargs):
            if fail in str(path):
                raise OSError(err, os.strerror(err), path)
            return real_open(path, *args, **kwargs)

        argv = ['pins_report.py', '--root', self.tree.cg, '--proc',
                self.tree.proc, '--json', '-p', '--all']
        out = io.StringIO()
        with mock.patch.object(sys, 'argv', argv), \
                mock.patch.object(self.mod, 'open', fake_open, create=True), \
                mock.patch.object(sys, 'stdout', out):
            rc = self.mod.main()
        self.assertEqual(rc, 0)
        return {c['path']: c for c in json.loads(out.getvalue())}

    def test_cgroup_removed_while_read(self):
        import errno
        cg = self.run_main(os.sep + 'db' + os.sep, errno.ENODEV)
        self.assertNotIn('/pins-ct/db', cg)
        self.assertIn('/pins-ct/web', cg)
        self.assertIn('/pins-ct/aa', cg)

    def test_process_exiting_while_read(self):
        import errno
        cg = self.run_main(os.sep + '101' + os.sep, errno.ESRCH)
        pids = [p['pid'] for c in cg.values() for p in c['processes']]
        self.assertEqual(sorted(pids), [1, 2, 102, 103, 104, 201, 301, 400,
                                        401])


def parse_value(v):
    if v in ('max', 'null'):
        return None
    if v in ('true', 'false'):
        return v == 'true'
    return int(v)


@unittest.skipUnless(os.path.isdir(os.environ.get('PINS_SNAPSHOT', '')),
                     'PINS_SNAPSHOT does not name a snapshot directory '
                     'captured in the guest')
class SnapshotTest(unittest.TestCase):
    """The guest's real tree, captured while pins were held."""

    @classmethod
    def setUpClass(cls):
        snap = os.environ['PINS_SNAPSHOT']
        cls.cg = os.path.join(snap, 'cgroup')
        cls.proc = os.path.join(snap, 'proc')
        cls.expect = []
        with open(os.path.join(snap, 'expect')) as f:
            for n, line in enumerate(f, 1):
                words = line.split('#', 1)[0].split()
                if words:
                    cls.expect.append((n, words[0], words[1:]))

    def run_ok(self, *args):
        r = run_tool('--root', self.cg, '--proc', self.proc, *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn('Traceback', r.stderr)
        return r.stdout

    def lines(self, kind):
        found = [(n, args) for n, k, args in self.expect if k == kind]
        if not found:
            self.skipTest('no "%s" lines in expect' % kind)
        return found

    def test_expect_is_well_formed(self):
        kinds = ('cgroup', 'pid', 'order', 'shown', 'hidden')
        for n, kind, args in self.expect:
            with self.subTest(line=n):
                self.assertIn(kind, kinds)
                self.assertTrue(args)

    def test_cgroups(self):
        data = json.loads(self.run_ok('--json', '--all'))
        cg = {c['path']: c for c in data}
        for n, args in self.lines('cgroup'):
            path = args[0]
            with self.subTest(line=n, cgroup=path):
                self.assertIn(path, cg)
                for field in args[1:]:
                    key, _, value = field.partition('=')
                    if key in cg[path] and key != 'stat':
                        got = cg[path][key]
                    else:
                        self.assertIn(key, cg[path]['stat'])
                        got = cg[path]['stat'][key]
                    self.assertEqual(got, parse_value(value),
                                     '%s %s' % (path, key))

    def test_pids(self):
        data = json.loads(self.run_ok('--json', '--all', '-p'))
        procs = {p['pid']: p for c in data for p in c['processes']}
        for n, args in self.lines('pid'):
            pid = int(args[0])
            with self.subTest(line=n, pid=pid):
                self.assertIn(pid, procs)
                for field in args[1:]:
                    key, _, value = field.partition('=')
                    self.assertIn(key, ('cgroup', 'comm', 'vmlck', 'vmpin'))
                    want = value if key in ('cgroup', 'comm') else int(value)
                    self.assertEqual(procs[pid][key], want,
                                     'pid %d %s' % (pid, key))

    def test_order(self):
        paths = tree_paths(self.run_ok('--all'))
        for n, args in self.lines('order'):
            with self.subTest(line=n):
                for p in args:
                    self.assertIn(p, paths)
                got = sorted(args, key=paths.index)
                self.assertEqual(got, args)

    def test_default_view(self):
        found = [(n, k, a) for n, k, a in self.expect
                 if k in ('shown', 'hidden')]
        if not found:
            self.skipTest('no "shown" or "hidden" lines in expect')
        paths = tree_paths(self.run_ok())
        for n, kind, args in found:
            for p in args:
                with self.subTest(line=n, cgroup=p):
                    if kind == 'shown':
                        self.assertIn(p, paths)
                    else:
                        self.assertNotIn(p, paths)

    def test_human_output_with_processes(self):
        out = self.run_ok('-p')
        self.assertTrue(out.startswith('CGROUP '))
        self.assertEqual(out.splitlines()[1].split()[0], '/')


if __name__ == '__main__':
    unittest.main(verbosity=2)
