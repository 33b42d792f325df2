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

A read checks all of it; an entry that is short, long, of another version or whose checksum
fails is deleted and reported as a miss, so the caller rebuilds it. A write goes to a temporary
file in the same directory (named with the pid and a random suffix) and is renamed into place
with ``os.replace``, so readers only ever see whole entries and two processes filling the same
key at once both succeed (the last rename wins; both wrote the same bytes). Any OS error (no
directory, no permission, disk full) makes the cache quietly do nothing: it is an optimization.
"""
import hashlib
import os
import struct
import secrets

MAGIC = b"GRAPHCC\0"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sIQ32s32s")
HEADER_SIZE = _HEADER.size
SUFFIX = ".gcobj"

# Counters for tests and diagnostics; never reset by the module itself.
stats = {"hits": 0, "misses": 0, "bad": 0, "writes": 0, "write_errors": 0}


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
    return payload


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
        os.replace(tmp, entry_path(key, directory))
        tmp = None
    except OSError:
        stats["write_errors"] += 1
        return False
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    stats["writes"] += 1
    return True
