#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# pins_report.py - what is pinned on this host, by whom and through what

"""
Print the cgroup v2 tree with the pins controller's counts: for each
cgroup its pins.current, pins.max, pins.peak, the charges its limits
refused (pins.events, pins.events.local) and pins.stat's bytes by source
(mlock, io_uring, rdma ...); with -p, the processes of each cgroup and
their locked (VmLck) and pinned (VmPin) memory from /proc/PID/status.

The tool reads plain files only, so it works as well on a copy of
/sys/fs/cgroup and /proc saved as ordinary files (--root, --proc).

See Documentation/admin-guide/cgroup-v2.rst, section "Pins".
"""

import argparse
import errno
import json
import os
import sys

# A cgroup or a process that goes away while it is read: skip it.
GONE = (errno.ENOENT, errno.ESRCH, errno.ENODEV)

UNITS = 'KMGTPE'

EPILOG = """
which cgroups are shown:
  By default, the top cgroup (the root: its line is the whole host) and
  every cgroup with the pins controller enabled whose pins.current,
  pins.peak or refusal counts are non-zero, with their ancestors.  With
  -a, every cgroup.  Siblings are sorted by pins.current, largest first,
  then by name (a cgroup without the controller counts as 0).

columns:
  CURRENT  pins.current: pinned and locked by the cgroup's subtree
           (on the root: by the whole system)
  MAX      pins.max ("max": no limit; "-": no such file, as on the root)
  PEAK     pins.peak
  REFUSED  pins.events "max": charges refused by the limit of this
           cgroup or of a descendant
  LOCAL    pins.events.local "max": charges refused by this cgroup's
           own limit
  SOURCES  the non-zero lines of pins.stat
  Sizes are in powers of 1024 (K, M, G ... as pins.max accepts them)
  with one decimal, or in bytes with --bytes.

processes (-p):
  Under each shown cgroup, the processes of its cgroup.procs, with
  their pid, name and VmLck and VmPin from /proc/PID/status, largest
  first.  A process of a cgroup that is not shown appears under the
  nearest shown ancestor, with its own cgroup, if its VmLck or VmPin is
  non-zero; without -a the processes of the top cgroup itself (kernel
  threads, mostly) are listed only if their VmLck or VmPin is non-zero.
  VmLck and VmPin are the process's own RLIMIT_MEMLOCK counters: what
  is counted against the user instead (io_uring buffers, AF_XDP UMEMs,
  SHM_LOCK ...), or held by a file or a device after the process that
  pinned it exited, shows in the cgroup's counts only.

--json prints a list of the shown cgroups, in the same order, each
  {"path", "enabled", "current", "max", "peak", "refused",
  "refused_local", "stat": {source: bytes}}, and with -p "processes":
  [{"pid", "comm", "cgroup", "vmlck", "vmpin"}]; sizes in bytes, a
  missing file (or "max" for pins.max) as null.

exit status: 0 on success, 1 if the tree cannot be read or has no pins
controller, 2 on bad usage.
"""


class Vanished(Exception):
    """The cgroup or process being read has gone away."""


def read_text(path):
    """Return the contents of @path, or None if it does not exist.

    Raises Vanished if reading shows the object behind it is gone.
    """
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno in GONE:
            raise Vanished(path) from e
        raise


def parse_int(text):
    if text is None:
        return None
    return int(text.strip())


def parse_max(text):
    """pins.max: None for "max" (and for no file), else bytes."""
    if text is None:
        return None
    text = text.strip()
    return None if text == 'max' else int(text)


def parse_keyed(text):
    """A flat-keyed file ("key value" lines) as an ordered dict."""
    if text is None:
        return None
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2:
            out[fields[0]] = int(fields[1])
    return out


class Cgroup:
    def __init__(self, path, name, depth):
        self.path = path        # "/" or "/a/b", relative to --root
        self.name = name
        self.depth = depth
        self.enabled = False
        self.current = None
        self.max = None         # None: "max", or no pins.max file
        self.has_max = False
        self.peak = None
        self.refused = None
        self.refused_local = None
        self.stat = {}
        self.pids = []
        self.children = []
        self.processes = []
        self.shown = False

    def active(self):
        return self.enabled and any((self.current, self.peak,
                                     self.refused, self.refused_local))

    def sort_key(self):
        return (-(self.current or 0), self.name)


def warn(msg):
    print('pins_report: ' + msg, file=sys.stderr)


def read_cgroup(dirpath, path, name, depth, want_pids):
    """Read one cgroup; None if it vanished while being read."""
    cg = Cgroup(path, name, depth)
    try:
        current = read_text(os.path.join(dirpath, 'pins.current'))
        cg.enabled = current is not None
        if cg.enabled:
            cg.current = parse_int(current)
            text = read_text(os.path.join(dirpath, 'pins.max'))
            cg.has_max = text is not None
            cg.max = parse_max(text)
            cg.peak = parse_int(read_text(os.path.join(dirpath, 'pins.peak')))
            ev = parse_keyed(read_text(os.path.join(dirpath, 'pins.events')))
            if ev is not None:
                cg.refused = ev.get('max', 0)
            ev = parse_keyed(read_text(os.path.join(dirpath,
                                                    'pins.events.local')))
            if ev is not None:
                cg.refused_local = ev.get('max', 0)
            cg.stat = parse_keyed(read_text(os.path.join(dirpath,
                                                         'pins.stat'))) or {}
        if want_pids:
            try:
                procs = read_text(os.path.join(dirpath, 'cgroup.procs'))
            except OSError as e:
                # A threaded cgroup's cgroup.procs cannot be read.
                if e.errno != errno.EOPNOTSUPP:
                    raise
                procs = None
            cg.pids = [int(p) for p in (procs or '').split() if int(p) > 0]
    except Vanished:
        return None
    except ValueError as e:
        warn('%s: unexpected contents: %s' % (dirpath, e))
    except OSError as e:
        warn('%s: %s' % (dirpath, e.strerror or e))
    # A file missing because the cgroup itself was removed: skip it.
    if not os.path.isdir(dirpath):
        return None
    return cg


def walk(dirpath, path, name, depth, want_pids):
    cg = read_cgroup(dirpath, path, name, depth, want_pids)
    if cg is None:
        return None
    try:
        with os.scandir(dirpath) as it:
            subdirs = sorted(e.name for e in it
                             if e.is_dir(follow_symlinks=False))
    except OSError as e:
        if e.errno in GONE:
            return None
        if depth == 0:
            raise
        warn('%s: %s' % (dirpath, e.strerror))
        subdirs = []
    for sub in subdirs:
        child = walk(os.path.join(dirpath, sub),
                     (path.rstrip('/') + '/' + sub), sub, depth + 1,
                     want_pids)
        if child is not None:
            cg.children.append(child)
    cg.children.sort(key=Cgroup.sort_key)
    return cg


def mark_shown(cg, show_all):
    """Mark the cgroups to show; True if @cg or a descendant is shown."""
    shown = show_all or cg.depth == 0 or cg.active()
    for child in cg.children:
        if mark_shown(child, show_all):
            shown = True
    cg.shown = shown
    return shown


def read_process(procdir, pid):
    """(comm, vmlck, vmpin) of @pid in bytes, or None if it is gone."""
    try:
        text = read_text(os.path.join(procdir, str(pid), 'status'))
    except Vanished:
        return None
    except OSError as e:
        warn('pid %d: %s' % (pid, e.strerror))
        return None
    if text is None:
        return None
    comm, vmlck, vmpin = '', 0, 0
    for line in text.splitlines():
        key, _, value = line.partition(':')
        if key == 'Name':
            comm = value.strip()
        elif key in ('VmLck', 'VmPin'):
            fields = value.split()
            size = int(fields[0]) * (1024 if fields[1:] == ['kB'] else 1)
            if key == 'VmLck':
                vmlck = size
            else:
                vmpin = size
    return comm, vmlck, vmpin


def attach_processes(cg, procdir, owner, show_all):
    """Put the processes of @cg and its subtree under the cgroups shown.

    @owner is the nearest shown ancestor of @cg (None for the top).
    """
    here = cg if cg.shown else owner
    for pid in cg.pids:
        info = read_process(procdir, pid)
        if info is None:
            continue
        comm, vmlck, vmpin = info
        own = cg.shown and (cg.depth > 0 or show_all)
        if not own and not (vmlck or vmpin):
            continue
        here.processes.append({'pid': pid, 'comm': comm, 'cgroup': cg.path,
                               'vmlck': vmlck, 'vmpin': vmpin})
    for child in cg.children:
        attach_processes(child, procdir, here, show_all)


def shown_list(cg, out):
    if cg.shown:
        out.append(cg)
        for child in cg.children:
            shown_list(child, out)
    return out


def human(n):
    if n is None:
        return '-'
    if n < 1024:
        return str(n)
    value, unit = float(n), ''
    for u in UNITS:
        if value < 1024:
            break
        value, unit = value / 1024, u
    return '%.1f%s' % (value, unit)


def render_text(cgroups, raw, processes):
    size = str if raw else human

    def num(n):
        return '-' if n is None else size(n)

    header = ('CGROUP', 'CURRENT', 'MAX', 'PEAK', 'REFUSED', 'LOCAL',
              'SOURCES')
    rows = []
    for cg in cgroups:
        indent = '  ' * cg.depth
        name = '/' if cg.depth == 0 else cg.name
        if not cg.enabled:
            cols = ['-'] * 5
        else:
            if not cg.has_max:
                limit = '-'
            else:
                limit = 'max' if cg.max is None else size(cg.max)
            cols = [num(cg.current), limit,
                    num(cg.peak),
                    '-' if cg.refused is None else str(cg.refused),
                    '-' if cg.refused_local is None else
                    str(cg.refused_local)]
        sources = ' '.join('%s=%s' % (k, size(v))
                           for k, v in cg.stat.items() if v)
        rows.append([indent + name] + cols + [sources])
        if processes:
            for p in cg.processes:
                line = '%s  %d %s' % (indent, p['pid'], p['comm'])
                extra = 'VmLck=%s VmPin=%s' % (size(p['vmlck']),
                                               size(p['vmpin']))
                if p['cgroup'] != cg.path:
                    extra += ' in %s' % p['cgroup']
                rows.append([line] + [''] * 5 + [extra])
    widths = [max(len(r[i]) for r in rows + [list(header)])
              for i in range(len(header) - 1)]
    out = []
    for r in [list(header)] + rows:
        cells = [r[0].ljust(widths[0])]
        cells += [r[i].rjust(widths[i]) for i in range(1, len(widths))]
        cells.append(r[-1])
        out.append('  '.join(cells).rstrip())
    return '\n'.join(out) + '\n'


def render_json(cgroups, processes):
    out = []
    for cg in cgroups:
        d = {'path': cg.path, 'enabled': cg.enabled, 'current': cg.current,
             'max': cg.max, 'peak': cg.peak, 'refused': cg.refused,
             'refused_local': cg.refused_local, 'stat': dict(cg.stat)}
        if processes:
            d['processes'] = cg.processes
        out.append(d)
    return json.dumps(out, indent=2) + '\n'


def main():
    parser = argparse.ArgumentParser(
        description='Show what memory is pinned or locked on this host, '
        'by which cgroup,\nthrough what, and by which processes (the pins '
        'cgroup controller).',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', default='/sys/fs/cgroup', metavar='DIR',
                        help='the cgroup2 mount, or a cgroup in it, or a '
                        'copy of either (default: %(default)s)')
    parser.add_argument('--proc', default='/proc', metavar='DIR',
                        help='where to read PID/status (default: '
                        '%(default)s)')
    parser.add_argument('-p', '--processes', action='store_true',
                        help='list the processes of each cgroup with their '
                        'VmLck and VmPin')
    parser.add_argument('-a', '--all', action='store_true',
                        help='show every cgroup and process, even without '
                        'pins or the controller')
    parser.add_argument('--bytes', action='store_true',
                        help='print sizes in bytes')
    parser.add_argument('--json', action='store_true',
                        help='print JSON (sizes always in bytes)')
    args = parser.parse_args()

    root = args.root
    if not os.path.isdir(root):
        warn('%s: not a directory (see --root)' % root)
        return 1
    try:
        controllers = read_text(os.path.join(root, 'cgroup.controllers'))
    except (OSError, Vanished) as e:
        warn('%s: cannot read: %s' % (root, e))
        return 1
    if controllers is None:
        warn('%s is not a cgroup v2 hierarchy (no cgroup.controllers)'
             % root)
        return 1
    if 'pins' not in controllers.split():
        warn('no pins controller in %s: this kernel was built without '
             'CONFIG_CGROUP_PINS, or it is not enabled here (cgroup.'
             'controllers: %s)' % (root, controllers.strip() or 'empty'))
        return 1

    try:
        top = walk(root, '/', '/', 0, args.processes)
    except OSError as e:
        warn('%s: %s' % (root, e.strerror or e))
        return 1
    if top is None:
        warn('%s: vanished while being read' % root)
        return 1
    mark_shown(top, args.all)
    if args.processes:
        attach_processes(top, args.proc, None, args.all)
    cgroups = shown_list(top, [])
    for cg in cgroups:
        cg.processes.sort(key=lambda p: (-(p['vmlck'] + p['vmpin']),
                                         p['pid']))

    if args.json:
        text = render_json(cgroups, args.processes)
    else:
        text = render_text(cgroups, args.bytes, args.processes)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # As "pins_report.py | head" expects: stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == '__main__':
    sys.exit(main())
