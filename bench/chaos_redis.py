#!/usr/bin/env python3
"""Redis side of bench/chaos.sh: a tiny RESP client (no redis-py needed).

  chaos_redis.py rendered PORT PARTITIONS [PREFIX]
      prints `rendered` of {p}:state:part:P for P in 0..PARTITIONS-1 on one
      line (-1 where the partition has none yet)
  chaos_redis.py compare SUBJECT_PORT REFERENCE_PORT [PREFIX]
      compares the content the contract names, as tests/integration/
      it_recovery.c does: every key under PREFIX: except PREFIX:state:* and
      the alerts stream; hashes without `updated_at`; sets, sorted sets;
      streams as sets of entries (partitions interleave differently from run
      to run). Prints "identical (N lines)" and exits 0, or the line counts
      and the first difference and exits 1.

Only 127.0.0.1.
"""
import socket
import sys


class Redis:
    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode("latin-1")
        if kind == b"-":
            raise RuntimeError("redis error: " + rest.decode("latin-1"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("utf-8", "surrogateescape")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError("unexpected reply %r" % line[:40])

    def cmd(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self._reply()


def pairs_text(flat):
    """Field/value pairs minus updated_at, sorted, as one string."""
    pairs = ["%s=%s" % (flat[i], flat[i + 1]) for i in range(0, len(flat) - 1, 2) if flat[i] != "updated_at"]
    return " ".join(sorted(pairs))


def dump(r, prefix):
    keys, cursor = [], "0"
    while True:
        cursor, batch = r.cmd("SCAN", cursor, "MATCH", prefix + ":*", "COUNT", 1000)
        keys.extend(k for k in batch if not k.startswith(prefix + ":state:") and k != prefix + ":alerts")
        if cursor == "0":
            break
    lines = []
    for k in sorted(set(keys)):
        t = r.cmd("TYPE", k)
        if t == "hash":
            lines.append("%s: %s" % (k, pairs_text(r.cmd("HGETALL", k))))
        elif t == "set":
            lines.extend("%s: member %s" % (k, m) for m in r.cmd("SMEMBERS", k))
        elif t == "zset":
            z = r.cmd("ZRANGE", k, 0, -1, "WITHSCORES")
            lines.extend("%s: %s %s" % (k, z[i], z[i + 1]) for i in range(0, len(z) - 1, 2))
        elif t == "stream":
            lines.extend("%s: entry %s" % (k, pairs_text(e[1])) for e in r.cmd("XRANGE", k, "-", "+"))
        elif t != "none":  # "none": expired or deleted since the SCAN
            lines.append("%s: type %s" % (k, t))
    lines.sort()
    return lines


def compare(subject_port, reference_port, prefix):
    a = dump(Redis(subject_port), prefix)
    b = dump(Redis(reference_port), prefix)
    if a == b:
        print("identical (%d lines)" % len(a))
        return 0
    i = next((j for j in range(min(len(a), len(b))) if a[j] != b[j]), min(len(a), len(b)))
    only_a, only_b = len(set(a) - set(b)), len(set(b) - set(a))
    print("differs: %d vs %d lines (%d only in the subject, %d only in the reference); first difference:"
          % (len(a), len(b), only_a, only_b))
    print("  subject:   %.700s" % (a[i] if i < len(a) else "(none)"))
    print("  reference: %.700s" % (b[i] if i < len(b) else "(none)"))
    for side, lines, other in (("subject", a, b), ("reference", b, a)):
        keys = {}
        for line in set(lines) - set(other):
            k = line.split(": ", 1)[0]
            keys[k] = keys.get(k, 0) + 1
        if keys:
            top = sorted(keys.items(), key=lambda kv: -kv[1])[:8]
            print("  only in the %s, by key: %s" % (side, ", ".join("%s %d" % kv for kv in top)))
    return 1


def rendered(port, partitions, prefix):
    r = Redis(port)
    out = []
    for p in range(partitions):
        v = r.cmd("HGET", "%s:state:part:%d" % (prefix, p), "rendered")
        out.append(v if v is not None else "-1")
    print(" ".join(out))
    return 0


def main(argv):
    if len(argv) >= 4 and argv[1] == "rendered":
        return rendered(int(argv[2]), int(argv[3]), argv[4] if len(argv) > 4 else "ccpulse")
    if len(argv) >= 4 and argv[1] == "compare":
        return compare(int(argv[2]), int(argv[3]), argv[4] if len(argv) > 4 else "ccpulse")
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (OSError, ConnectionError, RuntimeError) as e:
        print("redis: %s" % e)
        sys.exit(3)
