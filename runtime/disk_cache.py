"""An on-disk store of compiled artifacts, shared by processes: ``load(key)`` / ``store(key, payload)``.

Where: ``GRAPHC_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/graphc``, else ``~/.cache/graphc``.
``GRAPHC_CACHE=0`` turns it off. Both are read on every call, so they can change at run time.

One file per key, ``<key>.gcobj``: a fixed header, then the payload.

    magic      8 bytes   b"GRAPHCC\\0"
    version    u32       FORMAT_VERSION
    length     u64       payload length in bytes
    key        32 bytes  sha256 digest the entry was stored under (the file name, checked)
    checksum   32 bytes  sha256 of the payload
    payload    length bytes

A read checks all of it; an entry that is short, long, of another magic, version or key or
whose checksum fails is deleted and reported as a miss, so the caller rebuilds it (as is one
whose payload the caller refuses: ``reject``). A write goes to a temporary
file in the same directory (named with the pid and a random suffix) and is renamed into place
with ``os.replace``, so readers only ever see whole entries and two processes filling the same
key at once both succeed (the last rename wins; both wrote the same bytes). Any OS error (no
directory, no permission, disk full) makes the cache quietly do nothing: it is an optimization.

The directory is bounded: ``GRAPHC_CACHE_MAX`` (see ``max_bytes``; default ``DEFAULT_MAX_BYTES``,
512 MiB) caps the total size of its entries. An entry's mtime is its recency: a write sets it
and so does every hit. ``evict`` lists the directory once (``os.scandir``, a stat per file) and,
when the entries exceed the cap, removes the least recently used until they fill at most
``LOW_WATER`` of it; it also removes temporary files abandoned (by a killed writer) more than
``TEMP_MAX_AGE`` seconds ago. Only files named like entries or like this module's temporary
files are ever removed. A write runs it when this process's estimate of the total (from its
last listing plus its own writes since) passes the cap. A listing costs some microseconds per
entry (0.1-0.2 s for a full cache of 19,000 entries), so not every write pays for one, and a
process's first write starts from the directory's ``TOTAL_FILE`` instead (the total the last
listing found plus the writes counted since, with the time of that listing) unless it is
missing, unreadable or older than ``RECOUNT_AGE``: writes of processes at the same time may
each miss the others' (the file is read and rewritten without a lock), so the count is
taken again from the directory now and then.
"""
import hashlib
import os
import re
import secrets
import stat
import struct
import time
import warnings

MAGIC = b"GRAPHCC\0"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sIQ32s32s")
HEADER_SIZE = _HEADER.size
SUFFIX = ".gcobj"
_ENTRY_NAME = re.compile(r"[0-9a-f]{64}\.gcobj")
_TEMP_NAME = re.compile(r"\.[0-9a-f]{64}\.\d+\.[0-9a-f]{8}\.tmp")  # store()'s temporary files

# 512 MiB: entries are object code plus compressed IR, typically 5-100 KiB, so this holds many
# thousands of compiled modules (every graph and feed shape a user has run for a long while),
# yet stays small beside a disk; without a cap a cache fed new shapes grows without end.
DEFAULT_MAX_BYTES = 512 << 20
LOW_WATER = 0.9  # an eviction leaves room for the next writes, which then need no listing
TEMP_MAX_AGE = 3600  # seconds; a younger temporary file may be another writer's, in progress
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"(\d+(?:\.\d*)?)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
_warned = set()  # GRAPHC_CACHE_MAX values already warned about
_totals = {}  # directory: this process's estimate of its entries' size (last listing + own writes)
TOTAL_FILE = "total"   # "<entries' bytes> <time of the last listing>" (not an entry, never evicted)
RECOUNT_AGE = 600      # seconds after a listing when a process's first write lists the directory again

# Counters for tests and diagnostics; never reset by the module itself.
stats = {"hits": 0, "misses": 0, "bad": 0, "writes": 0, "write_errors": 0, "evicted": 0}


def enabled():
    return os.environ.get("GRAPHC_CACHE", "1").strip().lower() not in ("0", "off", "false", "no")


def cache_dir():
    """The cache directory (not created here), or None when the cache is off."""
    if not enabled():
        return None
    path = os.environ.get("GRAPHC_CACHE_DIR")
    if path:
        return os.path.abspath(os.path.expanduser(path))
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = xdg if xdg and os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "graphc")


def max_bytes():
    """The cap on the cache's total size from ``GRAPHC_CACHE_MAX``, in bytes; None for no cap.

    A number of bytes, optionally with a binary suffix (K, M, G, T, with or without B/iB, any
    case): ``536870912``, ``200M``, ``1.5G``, ``512MiB``. Unset or empty: ``DEFAULT_MAX_BYTES``.
    ``0``: no cap (the cache grows freely; ``GRAPHC_CACHE=0`` is what turns it off). Anything
    else (``-1``, ``lots``) warns once per value and uses the default: the cache is an
    optimization, so a typo must not stop a program.
    """
    text = os.environ.get("GRAPHC_CACHE_MAX", "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    match = _SIZE.fullmatch(text)
    if match is None:
        if text not in _warned:
            _warned.add(text)
            warnings.warn(f"GRAPHC_CACHE_MAX={text!r} is not a size (bytes, or with a K/M/G/T suffix "
                          f"such as 200M; 0 for no cap); using the default, {DEFAULT_MAX_BYTES >> 20}M",
                          RuntimeWarning, stacklevel=2)
        return DEFAULT_MAX_BYTES
    number = float(match[1])
    return max(1, int(number * _UNITS[match[2].lower()])) if number else None


def make_key(*parts):
    """A sha256 hex key over ``parts`` (str or bytes), each length-prefixed so boundaries count."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else bytes(part)
        h.update(struct.pack("<Q", len(data)))
        h.update(data)
    return h.hexdigest()


def entry_path(key, directory=None):
    directory = directory or cache_dir()
    return None if directory is None else os.path.join(directory, key + SUFFIX)


def _check_key(key):
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise ValueError(f"cache key must be a lowercase sha256 hex digest, got {key!r}")


def encode(key, payload):
    """The bytes of an entry for ``key`` holding ``payload``."""
    payload = bytes(payload)
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, len(payload), bytes.fromhex(key), hashlib.sha256(payload).digest())
    return header + payload


def decode(key, data):
    """The payload of entry bytes ``data`` for ``key``, or None if anything about it is wrong."""
    if len(data) < HEADER_SIZE:
        return None
    magic, version, length, stored_key, checksum = _HEADER.unpack_from(data)
    if magic != MAGIC or version != FORMAT_VERSION or stored_key != bytes.fromhex(key):
        return None
    if len(data) != HEADER_SIZE + length:
        return None
    payload = data[HEADER_SIZE:]
    if hashlib.sha256(payload).digest() != checksum:
        return None
    return payload


def load(key):
    """The payload stored under ``key``, or None (off, absent, unreadable, or bad: then deleted)."""
    _check_key(key)
    path = entry_path(key)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
    except OSError:
        stats["misses"] += 1
        return None
    payload = decode(key, data)
    if payload is None:
        stats["bad"] += 1
        stats["misses"] += 1
        discard(key, st)
        return None
    stats["hits"] += 1
    _touch(path)
    return payload


def _touch(path):
    """Mark the entry at ``path`` used now (its mtime is its recency). A fine clock, not the
    file system's coarse one, so entries used a millisecond apart still order."""
    now = time.time_ns()
    try:
        os.utime(path, ns=(now, now))
    except OSError:  # evicted meanwhile, or a read-only cache: recency is only a hint
        pass


def _unlink(path):
    """Remove ``path``; True if it is gone (by us or, just before, by another process)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def reject(key):
    """The payload ``load`` just returned for ``key`` proved unusable to its caller (it decoded,
    but is not what the caller stores): count it bad, a miss rather than a hit, and delete it."""
    stats["hits"] -= 1
    stats["misses"] += 1
    stats["bad"] += 1
    discard(key)


def discard(key, seen=None):
    """Delete the entry for ``key``; with ``seen`` (an ``os.stat`` result), only if it is still that file,
    so a good entry another process has just renamed into place is left alone."""
    path = entry_path(key)
    if path is None:
        return
    try:
        if seen is not None:
            now = os.stat(path)
            if (now.st_ino, now.st_dev, now.st_mtime_ns, now.st_size) != (
                    seen.st_ino, seen.st_dev, seen.st_mtime_ns, seen.st_size):
                return
        os.unlink(path)
    except OSError:
        pass


def store(key, payload):
    """Store ``payload`` under ``key`` atomically; True if written. Never raises for OS errors."""
    _check_key(key)
    directory = cache_dir()
    if directory is None:
        return False
    data = encode(key, payload)
    tmp = None
    try:
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".{key}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        path = entry_path(key, directory)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        stats["write_errors"] += 1
        return False
    finally:
        if tmp is not None:
            _unlink(tmp)
    stats["writes"] += 1
    _touch(path)
    limit, estimate = max_bytes(), _totals.get(directory)
    if estimate is None:   # (this process's first write here: the directory's count, if recent)
        estimate = _read_total(directory)
    if estimate is None or limit is not None and estimate + len(data) > limit:
        evict(directory, limit)
    else:
        _totals[directory] = estimate + len(data)
        _write_total(directory, estimate + len(data))
    return True


def _read_total(directory):
    """The entries' bytes as counted in ``TOTAL_FILE``, or None when it is missing, unreadable
    or its listing is older than RECOUNT_AGE."""
    try:
        with open(os.path.join(directory, TOTAL_FILE), "rb") as f:
            total, listed = f.read(64).split()
        total, listed = int(total), float(listed)
    except (OSError, ValueError):
        return None
    return total if 0 <= total and 0 <= time.time() - listed <= RECOUNT_AGE else None


def _write_total(directory, total, listed=None):
    """Record the entries' bytes (and, after a listing, its time; else the recorded one's)."""
    path = os.path.join(directory, TOTAL_FILE)
    if listed is None:
        try:
            with open(path, "rb") as f:
                listed = float(f.read(64).split()[1])
        except (OSError, ValueError, IndexError):
            return
    # (named like store()'s temporary files, so one abandoned by a killed writer is swept up)
    tmp = os.path.join(directory, f".{'0' * 64}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(f"{total} {listed!r}".encode())
        os.replace(tmp, path)
    except OSError:
        _unlink(tmp)


def evict(directory, limit):
    """If the entries of ``directory`` total more than ``limit`` bytes (None: no cap), remove the
    least recently used until they total at most ``LOW_WATER * limit``; remove temporary files
    older than ``TEMP_MAX_AGE`` either way. The number of entries removed.

    One ``os.scandir`` and a stat per file. Safe beside other processes reading, writing and
    evicting: a file that vanishes underneath is skipped (or counted as gone), young temporary
    files are left alone and not counted, and nothing raises. Two processes evicting at once
    remove the same oldest entries, so together no more than one would. An entry bigger than the
    whole cap is removed too.
    """
    listed = _listing(directory)
    if listed is None:
        return 0
    now, removed = time.time(), 0
    entries, temporaries = listed
    total = sum(size for _, _, size in entries)
    for path, mtime in temporaries:
        if now - mtime > TEMP_MAX_AGE:
            _unlink(path)
    if limit is not None and total > limit:
        for _, path, size in sorted(entries):
            if total <= LOW_WATER * limit:
                break
            if _unlink(path):
                total -= size
                removed += 1
    _totals[directory] = total
    _write_total(directory, total, now)
    stats["evicted"] += removed
    return removed


def _listing(directory):
    """([(mtime_ns, path, size)] of the entries, [(path, mtime)] of the temporary files) in
    ``directory``, or None when it cannot be listed; files vanishing meanwhile are skipped."""
    entries, temporaries = [], []
    try:
        with os.scandir(directory) as listing:
            for item in listing:
                try:
                    st = item.stat(follow_symlinks=False)
                except OSError:  # removed since the listing
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                if _ENTRY_NAME.fullmatch(item.name):
                    entries.append((st.st_mtime_ns, item.path, st.st_size))
                elif _TEMP_NAME.fullmatch(item.name):
                    temporaries.append((item.path, st.st_mtime))
    except OSError:
        return None
    return entries, temporaries


def contents(directory=None):
    """(entries, their total bytes) in the cache directory (``graphc info``)."""
    directory = directory or cache_dir()
    listed = _listing(directory) if directory else None
    entries = listed[0] if listed else []
    return len(entries), sum(size for _, _, size in entries)


def clear(directory=None):
    """Remove every entry (and temporary file, and the count) of the cache directory (``graphc
    cache clear``); returns (entries removed, bytes freed). Other files there are left alone."""
    directory = directory or cache_dir()
    listed = _listing(directory) if directory else None
    if listed is None:
        return 0, 0
    removed = [(path, size) for _, path, size in listed[0] if _unlink(path)]
    for path, _ in listed[1]:
        _unlink(path)
    _unlink(os.path.join(directory, TOTAL_FILE))
    _totals.pop(directory, None)
    return len(removed), sum(size for _, size in removed)
