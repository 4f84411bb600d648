#!/usr/bin/env python3
"""Checks the reference model itself on tiny cases computed by hand."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_model as rm  # noqa: E402

T = 1795339800000  # 2026-11-22T07:30:00Z, on a 10 s bucket edge


def run(events, cfg=None):
    with tempfile.NamedTemporaryFile("w", suffix=".ndjson", delete=False) as f:
        for e in events:
            f.write((e if isinstance(e, str) else json.dumps(e)) + "\n")
    try:
        return rm.run(f.name, cfg or {})
    finally:
        os.unlink(f.name)


def ev(i, typ, ts, **kw):
    d = {"id": "e%d" % i, "type": typ, "ts": ts, "queue": "q", "contact": "c%d" % kw.pop("c", 1)}
    d.update(kw)
    return d


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


# Service level, waits, short abandons.
r = run([ev(1, "contact.offered", T), ev(2, "contact.answered", T + 15000),
         ev(3, "contact.offered", T, c=2), ev(4, "contact.answered", T + 25000, c=2),
         ev(5, "contact.offered", T, c=3), ev(6, "contact.abandoned", T + 3000, c=3),
         ev(7, "contact.offered", T, c=4), ev(8, "contact.abandoned", T + 8000, c=4)])
w = r["queues"]["q"]["5m"]
check(w["answered"] == 2 and w["answered_in_sl"] == 1, "answered / in SL")
check(w["abandoned"] == 1 and w["abandoned_short"] == 1, "short abandon split")
check(abs(w["service_level"] - 1 / 3) < 1e-9, "service level = 1/(2+1)")
check(w["asa_ms"] == 20000 and w["max_wait_ms"] == 25000, "asa and max")
check(w["wait_p50_ms"] == 15000 and w["wait_p99_ms"] == 25000, "nearest rank")
check(w["window_end"] == T + 30000 and w["window_start"] == T + 30000 - 300000, "window bounds")

# Promise kept exactly at due is on time; cancelled exactly at due is broken.
r = run([ev(5, "promise.made", T, promise="p3", due=T + 500),
         ev(6, "promise.cancelled", T + 400, promise="p3"),
         ev(1, "promise.made", T, promise="p1", due=T + 1000),
         ev(2, "promise.made", T, promise="p2", due=T + 1000),
         ev(3, "promise.kept", T + 1000, promise="p1"),
         ev(4, "promise.cancelled", T + 1000, promise="p2")])
w = r["queues"]["q"]["5m"]
check(w["promises_made"] == 3 and w["promises_due"] == 2, "due excludes cancelled before due")
check(w["promises_kept_on_time"] == 1 and w["promises_broken"] == 1, "on time / broken")
check(r["queues"]["q"]["live"]["promises_overdue"] == 0, "released once settled")

# Bad input reasons in the contract's order; duplicates; late.
r = run(['{"type":"nope"}', '{"id":"x","type":"nope","ts":1}', '{"id":"x","type":"contact.offered","ts":"x"}',
         "{", ev(1, "contact.offered", T), ev(1, "contact.offered", T),
         ev(2, "contact.offered", T - 86400001)])
check(r["errors"] == {"bad_json": 1, "missing_field": 1, "unknown_type": 1, "bad_field": 1, "future_ts": 0},
      "reasons %r" % r["errors"])
check(r["duplicates"] == 1 and r["late_events"] == 1, "duplicate and late")

# Agents count once in total.
r = run([{"id": "a1", "type": "agent.state", "ts": T, "agent": "a", "state": "busy", "queues": ["x", "y", "x"]}])
check(r["total"]["live"]["agents_busy"] == 1 and r["queues"]["x"]["live"]["agents_busy"] == 1, "agents")
print("reference model self-test: 5 passed, 0 failed")
