"""A power-cut file system for the tests: FUSE (PyPI mfusepy, Debian fuse3).

    python3 powercut_fs.py --backing DIR --mount MNT

DIR holds the durable image as plain files and directories (modes kept).
While mounted at MNT, every change lives in memory, as a kernel's page cache
and a disk's write cache would hold it:

  * file data and size become durable only at fsync/fdatasync of that file;
  * a directory entry (create, mkdir, unlink, rename) becomes durable only
    at fsync of that directory (a rename is one entry change in its
    directory: atomic, old name or new);
  * modes are durable at once (the agent sets them before syncing).

A cut ("power loss") turns the durable state plus a chosen part of the
unsynced changes into the new image in DIR and unmounts. Policies, per file:

  drop      nothing unsynced survives;
  prefix    the unsynced writes survive in order up to a random byte, the
            last one torn there;
  sectors   each 512-byte sector the unsynced writes changed holds its new
            or its old content, in any combination (a later sector may
            survive without an earlier one): a random subset, all but the
            first, or a random suffix; the size is the old or the new one;
            old content past the old end is zeros or garbage;
  all       everything survives (a clean shutdown).

Directories keep a random prefix of their unsynced entry changes (none for
drop, all for all): a journaling file system commits them in order.

Cuts are triggered by the harness: at the n-th operation of a kind (fsync of
a file, fsyncdir, rename, rename onto an existing name, write), optionally
only for one file name, before or after the operation takes effect; or at
once (`freeze`), e.g. when the harness saw a PVE request. From the trigger
on, every mutating operation blocks (the triggering one included, so the
process never learns that an fsync finished); the harness SIGKILLs the agent,
then sends `cut`. Blocked operations then fail with EIO.

Protocol: one JSON object per stdin line, one JSON reply per stdout line
(after the first line, {"ready": true} once mounted):
  {"op": "arm", "kind": K, "n": N, "when": "before"|"after", "name": NAME|null}
                              (counting starts again from zero)
  {"op": "resume"}            after a trigger: the blocked calls fail with EIO
                              and the disk goes on (the process crashed, the
                              power stayed on: unsynced data stays)
  {"op": "counts"}            {"fsync": n, "fsync:NAME": n, "fsyncdir": n, "rename": n,
                               "rename_onto": n, "write": n, ...}
  {"op": "wait_cut", "timeout": S}   {"cut": bool, "at": text|null}
  {"op": "freeze"}            freeze now
  {"op": "cut", "policy": P, "seed": N}   {"at": text|null, "unsynced": {path: n}}
                              then unmount and exit
  {"op": "shutdown"}          policy "all", unmount, exit
EOF on stdin is a shutdown.
"""

import argparse
import errno
import json
import os
import random
import shutil
import signal
import stat
import sys
import threading
import time

import mfusepy as fuse

SECTOR = 512
OUT = threading.Lock()


def say(obj):
    with OUT:
        sys.stdout.write(json.dumps(obj) + '\n')
        sys.stdout.flush()


class Node:
    """A file or directory. Files: `data` (what reads see), `durable`, and
    the unsynced changes in order (`log`). Directories: `entries`,
    `durable_entries`, and the unsynced entry changes (`log`)."""

    def __init__(self, kind, mode):
        self.kind = kind
        self.mode = mode
        self.log = []
        if kind == 'file':
            self.data = bytearray()
            self.durable = b''
        else:
            self.entries = {}
            self.durable_entries = {}


class Frozen(Exception):
    pass


class PowerCutFs(fuse.Operations):
    use_ns = True

    def __init__(self, backing):
        self.backing = backing
        self.mu = threading.RLock()
        self.root = self._load(backing)
        self.fhs = {}
        self.next_fh = 1
        self.counts = {}
        self.trigger = None
        self.frozen = False
        self.cut_at = None
        self.triggered = threading.Event()
        self.released = threading.Event()
        self.now = time.time_ns()

    # -- loading the durable image ------------------------------------
    def _load(self, path):
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            node = Node('dir', st.st_mode)
            for name in os.listdir(path):
                node.entries[name] = self._load(os.path.join(path, name))
            node.durable_entries = dict(node.entries)
            return node
        node = Node('file', st.st_mode)
        with open(path, 'rb') as f:
            node.data = bytearray(f.read())
        node.durable = bytes(node.data)
        return node

    # -- lookup ---------------------------------------------------------
    def _resolve(self, path):
        node = self.root
        for part in [p for p in path.split('/') if p]:
            if node.kind != 'dir' or part not in node.entries:
                raise fuse.FuseOSError(errno.ENOENT)
            node = node.entries[part]
        return node

    def _parent(self, path):
        head, name = os.path.split(path.rstrip('/'))
        parent = self._resolve(head or '/')
        if parent.kind != 'dir':
            raise fuse.FuseOSError(errno.ENOTDIR)
        return parent, name

    def _node(self, path, fh):
        if fh is not None and fh in self.fhs:
            return self.fhs[fh]
        return self._resolve(path)

    def _new_fh(self, node):
        fh = self.next_fh
        self.next_fh += 1
        self.fhs[fh] = node
        return fh

    # -- triggers and freezing -----------------------------------------
    def _count(self, kind, name):
        """Counts a mutating operation; returns when an armed trigger fires
        at it ("before"/"after"), else None. Blocks if frozen."""
        with self.mu:
            frozen = self.frozen
            if not frozen:
                fired = None
                for key in (kind, kind + ':' + name):
                    self.counts[key] = self.counts.get(key, 0) + 1
                t = self.trigger
                if t and t['kind'] == kind and t.get('name') in (None, name):
                    key = kind if t.get('name') is None else kind + ':' + name
                    if self.counts[key] == t['n']:
                        fired = t['when']
                        self.frozen = True
                        self.cut_at = '{0} #{1} of {2} ({3})'.format(kind, t['n'], name, fired)
                return fired
        self._block()

    def _block(self):
        released = self.released
        self.triggered.set()
        released.wait()
        raise fuse.FuseOSError(errno.EIO)

    def _mutating(self, kind, path):
        """The common entry of every mutating operation: counts it, fires a
        trigger "before" it (then blocks), returns True to freeze after."""
        fired = self._count(kind, os.path.basename(path.rstrip('/')))
        if fired == 'before':
            self._block()
        return fired == 'after'

    # -- operations -------------------------------------------------------
    def getattr(self, path, fh=None):
        with self.mu:
            node = self._node(path, fh)
            size = len(node.data) if node.kind == 'file' else 0
            nlink = 1 if node.kind == 'file' else 2
            return {'st_mode': node.mode, 'st_nlink': nlink, 'st_size': size, 'st_uid': 0,
                    'st_gid': 0, 'st_atime': self.now, 'st_mtime': self.now, 'st_ctime': self.now}

    def readdir(self, path, fh):
        with self.mu:
            node = self._resolve(path)
            return ['.', '..'] + sorted(node.entries)

    def opendir(self, path):
        return 0

    def releasedir(self, path, fh):
        return 0

    def statfs(self, path):
        return {'f_bsize': 4096, 'f_frsize': 4096, 'f_blocks': 1 << 20, 'f_bfree': 1 << 19,
                'f_bavail': 1 << 19, 'f_files': 1 << 16, 'f_ffree': 1 << 15, 'f_favail': 1 << 15,
                'f_namemax': 255}

    def access(self, path, amode):
        return 0

    def chown(self, path, uid, gid):
        return 0

    def utimens(self, path, times=None):
        return 0

    def chmod(self, path, mode):
        after = self._mutating('chmod', path)
        with self.mu:
            node = self._resolve(path)
            node.mode = stat.S_IFMT(node.mode) | (mode & 0o7777)
        if after:
            self._block()
        return 0

    def _link(self, path, node, kind):
        after = self._mutating(kind, path)
        with self.mu:
            parent, name = self._parent(path)
            if name in parent.entries:
                raise fuse.FuseOSError(errno.EEXIST)
            parent.entries[name] = node
            parent.log.append(('set', name, node))
        if after:
            self._block()

    def mkdir(self, path, mode):
        self._link(path, Node('dir', stat.S_IFDIR | (mode & 0o7777)), 'mkdir')
        return 0

    def create(self, path, mode, fi=None):
        node = Node('file', stat.S_IFREG | (mode & 0o7777))
        self._link(path, node, 'create')
        with self.mu:
            return self._new_fh(node)

    def open(self, path, flags):
        with self.mu:
            node = self._resolve(path)
            fh = self._new_fh(node)
        if flags & os.O_TRUNC:
            self.truncate(path, 0, fh)
        return fh

    def release(self, path, fh):
        with self.mu:
            self.fhs.pop(fh, None)
        return 0

    def flush(self, path, fh):
        return 0

    def read(self, path, size, offset, fh):
        with self.mu:
            node = self._node(path, fh)
            return bytes(node.data[offset:offset + size])

    def write(self, path, data, offset, fh):
        after = self._mutating('write', path)
        with self.mu:
            node = self._node(path, fh)
            end = offset + len(data)
            if end > len(node.data):
                node.data.extend(b'\0' * (end - len(node.data)))
            node.data[offset:end] = data
            node.log.append(('w', offset, bytes(data)))
        if after:
            self._block()
        return len(data)

    def truncate(self, path, length, fh=None):
        after = self._mutating('truncate', path)
        with self.mu:
            node = self._node(path, fh)
            if length < len(node.data):
                del node.data[length:]
            else:
                node.data.extend(b'\0' * (length - len(node.data)))
            node.log.append(('t', length))
        if after:
            self._block()
        return 0

    def fsync(self, path, datasync, fh):
        after = self._mutating('fsync', path)
        with self.mu:
            node = self._node(path, fh)
            node.durable = bytes(node.data)
            node.log = []
        if after:
            self._block()
        return 0

    def fsyncdir(self, path, datasync, fh):
        after = self._mutating('fsyncdir', path)
        with self.mu:
            node = self._resolve(path)
            node.durable_entries = dict(node.entries)
            node.log = []
        if after:
            self._block()
        return 0

    def unlink(self, path):
        after = self._mutating('unlink', path)
        with self.mu:
            parent, name = self._parent(path)
            if name not in parent.entries:
                raise fuse.FuseOSError(errno.ENOENT)
            del parent.entries[name]
            parent.log.append(('del', name))
        if after:
            self._block()
        return 0

    def rmdir(self, path):
        after = self._mutating('rmdir', path)
        with self.mu:
            parent, name = self._parent(path)
            node = parent.entries.get(name)
            if node is None:
                raise fuse.FuseOSError(errno.ENOENT)
            if node.entries:
                raise fuse.FuseOSError(errno.ENOTEMPTY)
            del parent.entries[name]
            parent.log.append(('del', name))
        if after:
            self._block()
        return 0

    def rename(self, old, new):
        with self.mu:
            dst, new_name = self._parent(new)
            onto = new_name in dst.entries
        after = self._mutating('rename_onto' if onto else 'rename', new)
        with self.mu:
            src, old_name = self._parent(old)
            dst, new_name = self._parent(new)
            node = src.entries.get(old_name)
            if node is None:
                raise fuse.FuseOSError(errno.ENOENT)
            del src.entries[old_name]
            dst.entries[new_name] = node
            if src is dst:
                src.log.append(('rename', old_name, new_name, node))
            else:
                src.log.append(('del', old_name))
                dst.log.append(('set', new_name, node))
        if after:
            self._block()
        return 0

    def link(self, target, source):
        raise fuse.FuseOSError(errno.EPERM)

    def symlink(self, target, source):
        raise fuse.FuseOSError(errno.EPERM)

    def init(self, path):
        say({'ready': True})

    # -- the cut ----------------------------------------------------------
    def unsynced(self):
        """Unsynced changes at this instant: {path: bytes written or entry
        changes}, for the harness's report."""
        out = {}

        def walk(node, path):
            if node.kind == 'file':
                n = sum(len(op[2]) if op[0] == 'w' else 1 for op in node.log)
            else:
                n = len(node.log)
                for name, child in node.entries.items():
                    walk(child, path + '/' + name)
            if n:
                out[path or '/'] = n

        walk(self.root, '')
        return out

    def after_cut(self, policy, rng):
        """The durable image a cut leaves: {path: (mode, bytes | None)}."""
        fill_garbage = rng.random() < 0.5
        contents = {}

        def file_image(node):
            if id(node) in contents:
                return contents[id(node)]
            if policy == 'drop' or not node.log:
                out = node.durable
            elif policy == 'all':
                out = bytes(node.data)
            elif policy == 'prefix':
                out = torn_prefix(node, rng)
            else:
                out = sector_subset(node, rng, fill_garbage)
            contents[id(node)] = out
            return out

        def entries(node):
            if policy == 'drop':
                return node.durable_entries
            if policy == 'all':
                return node.entries
            keep = rng.randint(0, len(node.log))
            out = dict(node.durable_entries)
            for op in node.log[:keep]:
                if op[0] == 'set':
                    out[op[1]] = op[2]
                elif op[0] == 'del':
                    out.pop(op[1], None)
                else:
                    out.pop(op[1], None)
                    out[op[2]] = op[3]
            return out

        image = {}

        def walk(node, path):
            if node.kind == 'file':
                image[path] = (node.mode, file_image(node))
                return
            image[path] = (node.mode, None)
            for name, child in sorted(entries(node).items()):
                walk(child, path + '/' + name)

        walk(self.root, '')
        return image

    def write_backing(self, image):
        for name in os.listdir(self.backing):
            p = os.path.join(self.backing, name)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
        for path, (mode, data) in sorted(image.items()):
            real = self.backing + path
            if data is None:
                if path:
                    os.mkdir(real)
                os.chmod(real, stat.S_IMODE(mode))
            else:
                fd = os.open(real, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.write(fd, data)
                os.fchmod(fd, stat.S_IMODE(mode))
                os.close(fd)


def torn_prefix(node, rng):
    """The unsynced writes applied in order up to a random byte."""
    total = sum(len(op[2]) if op[0] == 'w' else 1 for op in node.log)
    budget = rng.randint(0, total)
    data = bytearray(node.durable)
    for op in node.log:
        if budget <= 0:
            break
        if op[0] == 't':
            del data[op[1]:]
            data.extend(b'\0' * (op[1] - len(data)))
            budget -= 1
            continue
        _, off, chunk = op
        chunk = chunk[:budget]
        budget -= len(chunk)
        if off + len(chunk) > len(data):
            data.extend(b'\0' * (off + len(chunk) - len(data)))
        data[off:off + len(chunk)] = chunk
    return bytes(data)


def sector_subset(node, rng, fill_garbage):
    """Each changed sector new or old; the size old or new. Which sectors
    keep their new content: a random subset (half the cuts), every one but
    the first (the writeback order that splits a write worst), or a random
    suffix (the last ones written first)."""
    new, old = bytes(node.data), node.durable
    size = rng.choice([len(old), len(new)])
    flavor = rng.choice(['subset', 'subset', 'all_but_first', 'suffix'])
    changed = []
    for lo in range(0, size, SECTOR):
        hi = min(lo + SECTOR, size)
        fresh = new[lo:hi].ljust(hi - lo, b'\0')
        stale = old[lo:hi]
        if len(stale) < hi - lo:
            pad = hi - lo - len(stale)
            stale += bytes(rng.getrandbits(8) for _ in range(pad)) if fill_garbage else b'\0' * pad
        changed.append((fresh, stale))
    differ = [i for i, (fresh, stale) in enumerate(changed) if fresh != stale]
    if flavor == 'subset':
        keep = {i for i in differ if rng.random() < 0.5}
    elif flavor == 'all_but_first':
        keep = set(differ[1:])
    else:
        keep = set(differ[rng.randint(0, len(differ)):])
    return b''.join(fresh if i in keep or fresh == stale else stale
                    for i, (fresh, stale) in enumerate(changed))


def control(fs, mount):
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        op = cmd['op']
        if op == 'arm':
            with fs.mu:
                fs.trigger = {'kind': cmd['kind'], 'n': cmd['n'], 'when': cmd.get('when', 'before'),
                              'name': cmd.get('name')}
                fs.counts = {}
            say({'ok': True})
        elif op == 'resume':
            # The process that hit the trigger was killed (a crash, not a
            # power cut): its blocked calls fail, the page cache stays.
            with fs.mu:
                released, fs.released = fs.released, threading.Event()
                fs.triggered = threading.Event()
                fs.frozen = False
                fs.trigger = None
                fs.cut_at = None
            released.set()
            say({'ok': True})
        elif op == 'counts':
            with fs.mu:
                say({'ok': True, 'result': dict(fs.counts)})
        elif op == 'wait_cut':
            hit = fs.triggered.wait(cmd.get('timeout', 0))
            say({'ok': True, 'result': {'cut': hit, 'at': fs.cut_at}})
        elif op == 'freeze':
            with fs.mu:
                if not fs.frozen:
                    fs.frozen = True
                    fs.cut_at = 'frozen by the harness'
            say({'ok': True})
        elif op in ('cut', 'shutdown'):
            policy = cmd.get('policy', 'all') if op == 'cut' else 'all'
            with fs.mu:
                fs.frozen = True
                unsynced = fs.unsynced()
                image = fs.after_cut(policy, random.Random(cmd.get('seed', 0)))
                fs.write_backing(image)
            fs.released.set()
            say({'ok': True, 'result': {'at': fs.cut_at, 'unsynced': unsynced}})
            unmount(mount)
            return
        else:
            say({'ok': False, 'error': 'unknown op ' + op})
    with fs.mu:
        fs.frozen = True
        fs.write_backing(fs.after_cut('all', random.Random(0)))
    fs.released.set()
    unmount(mount)


def unmount(mount):
    """Ends the FUSE loop: libfuse's own SIGTERM handler leaves the loop and
    unmounts, like a clean `fusermount3 -u`."""
    os.kill(os.getpid(), signal.SIGTERM)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--backing', required=True)
    parser.add_argument('--mount', required=True)
    args = parser.parse_args()
    fs = PowerCutFs(os.path.abspath(args.backing))
    threading.Thread(target=control, args=(fs, args.mount), daemon=True).start()
    try:
        # hard_remove: replacing or unlinking an open file is one real
        # operation, not libfuse's rename to .fuse_hidden* first (which
        # would make a rename onto an open journal two steps).
        fuse.FUSE(fs, args.mount, foreground=True, fsname='powercut', hard_remove=True)
    except RuntimeError:
        # libfuse reports the loop it was asked to leave (unmount) as an error.
        if not fs.released.is_set():
            raise


if __name__ == '__main__':
    main()
