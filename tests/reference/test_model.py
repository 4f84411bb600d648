#!/usr/bin/env python3
"""Checks the reference model itself on tiny cases computed by hand from
the contract, so a wrong model cannot pass the comparison by agreeing with
a wrong engine. Exit 1 on the first failure."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_events  # noqa: E402
import reference_model as rm  # noqa: E402

T = 1795339800000  # 2026-11-22T09:30:00Z, on a 10 s (and 5 min) bucket edge
M = 60000
HR = 3600000
passed = 0


def run(lines, cfg=None):
    data = b"\n".join(l if isinstance(l, bytes) else
                      (l if isinstance(l, str) else json.dumps(l)).encode() for l in lines)
    return rm.run_bytes(data, cfg or {})


def ev(i, typ, ts, c=1, q="q", **kw):
    d = {"id": "e%s" % i, "type": typ, "ts": ts, "queue": q, "contact": "c%s" % c}
    d.update(kw)
    return d


def check(cond, what):
    global passed
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    passed += 1


def w5(r, q="q"):
    return r["queues"][q]["5m"]


# --- Decoding: every tagged bad line gets its reason; odd lines are valid.
for reason, line in gen_events.bad_lines(T):
    try:
        rm.validate(line)
        got = "accepted"
    except rm.Bad as b:
        got = b.reason
    check(got == reason, "bad line %r: %s, expected %s" % (line[:100], got, reason))
for line in gen_events.odd_lines(T):
    try:
        rm.validate(line.encode())
    except rm.Bad as b:
        check(False, "odd line %r rejected: %s" % (line[:100], b.reason))
e = rm.validate(b'{"id":"\\u0065-1","type":"contact.offered","ts":"2026-11-22t09:29:60.1234z",'
                b'"queue":"a","queue":"b","contact":"c","channel":null}')
check(e["id"] == "e-1" and e["queue"] == "b" and e["channel"] == "voice", "escapes, last key, null")
check(e["ts"] == T + 123, "second 60 is the next second; fraction truncated: %r" % e["ts"])
check(rm.parse_time("2026-11-22T11:30:00.5+02:00") == T + 500, "offset +02:00")
check(rm.parse_time("2026-11-22T04:00:00-05:30") == T, "offset -05:30")
check(rm.validate(b'{"id":"x","type":"contact.ended","ts":-0,"queue":"q","contact":"c"}')["ts"] == 0, "-0")
check(rm.validate(('{"id":"%s","type":"contact.ended","ts":1,"queue":"q","contact":"c"}'
                   % ("\u00e9" * 64)).encode())["id"], "128 bytes")

# --- Service level, waits, short abandons, percentiles, window bounds.
r = run([ev(1, "contact.offered", T), ev(2, "contact.answered", T + 15000),
         ev(3, "contact.offered", T, c=2), ev(4, "contact.answered", T + 25000, c=2),
         ev(5, "contact.offered", T, c=3), ev(6, "contact.abandoned", T + 4999, c=3),
         ev(7, "contact.offered", T, c=4), ev(8, "contact.abandoned", T + 5000, c=4),
         ev(9, "contact.offered", T, c=5, channel="chat"), ev(10, "contact.answered", T + 60000, c=5),
         ev(11, "contact.offered", T, c=6), ev(12, "contact.answered", T + 20000, c=6)])
w = w5(r)
check(w["offered"] == 6 and w["answered"] == 4 and w["answered_in_sl"] == 3, "answered / in SL %r" % w)
check(w["abandoned"] == 1 and w["abandoned_short"] == 1, "4999 short, 5000 not")
check(abs(w["service_level"] - 3 / 5) < 1e-12 and abs(w["abandon_rate"] - 1 / 5) < 1e-12, "SL, abandon rate")
check(w["asa_ms"] == 30000 and w["max_wait_ms"] == 60000, "asa and max")
check(w["wait_p50_ms"] == 20000 and w["wait_p90_ms"] == 60000 and w["wait_p99_ms"] == 60000, "nearest rank")
check(w["window_end"] == T + 60000 + 10000 and w["window_start"] == T + 70000 - 300000, "5m bounds %r" % w)
check(r["queues"]["q"]["24h"]["window_end"] == T + 5 * M and
      r["queues"]["q"]["24h"]["window_start"] == T + 5 * M - 24 * HR, "24h bounds")
check(r["queues"]["q"]["today"]["window_start"] == T - 9 * HR - 30 * M, "today from UTC midnight")
for variant, sl in [("answered", 3 / 4), ("offered", 3 / 6), ("with_short_abandons", 3 / 6)]:
    r2 = run([ev(1, "contact.offered", T), ev(2, "contact.answered", T + 15000),
              ev(3, "contact.offered", T, c=2), ev(4, "contact.answered", T + 25000, c=2),
              ev(5, "contact.offered", T, c=3), ev(6, "contact.abandoned", T + 4999, c=3),
              ev(7, "contact.offered", T, c=4), ev(8, "contact.abandoned", T + 5000, c=4),
              ev(9, "contact.offered", T, c=5, channel="chat"), ev(10, "contact.answered", T + 60000, c=5),
              ev(11, "contact.offered", T, c=6), ev(12, "contact.answered", T + 20000, c=6)],
             {"service_level": {"variant": variant}})
    check(abs(w5(r2)["service_level"] - sl) < 1e-12, "variant %s" % variant)
# Per-queue threshold beats the channel default; short_abandon configurable.
r = run([ev(1, "contact.offered", T, q="a"), ev(2, "contact.answered", T + 16000, q="a"),
         ev(3, "contact.offered", T, q="b"), ev(4, "contact.answered", T + 16000, q="b"),
         ev(5, "contact.offered", T, c=2, q="b"), ev(6, "contact.abandoned", T + 9000, c=2, q="b")],
        {"queues": {"a": {"service_level": {"voice": "15s"}}}, "short_abandon": "10s"})
check(w5(r, "a")["answered_in_sl"] == 0 and w5(r, "b")["answered_in_sl"] == 1, "per-queue SL")
check(w5(r, "b")["abandoned_short"] == 1, "short_abandon 10s")
# Absent figures: no ratios/means when nothing to compute from; counts are 0.
r = run([ev(1, "complaint.opened", T, complaint="k")])
w = w5(r)
for f in ["service_level", "abandon_rate", "asa_ms", "wait_p50_ms", "max_wait_ms", "aht_ms",
          "fcr_rate", "promise_kept_rate", "csat_avg", "csat_satisfied_rate", "empathy_avg",
          "complaint_resolution_ms"]:
    check(f not in w, "absent %s" % f)
check(w["offered"] == 0 and w["csat_n"] == 0 and w["complaints_opened"] == 1, "counts present")

# --- Unknown waits, re-offers, negative waits, transfers, FCR, AHT.
r = run([ev(1, "contact.answered", T),                       # no offer: unmatched, held for AHT
         ev(2, "contact.ended", T + 100000, resolved=True),   # fcr (no offer held = not transferred in)
         ev(3, "contact.abandoned", T, c=2),                  # no offer: abandoned, unmatched
         ev(4, "contact.offered", T, c=3), ev(5, "contact.offered", T + 30000, c=3),
         ev(6, "contact.answered", T + 40000, c=3),           # wait from the latest offer: 10 s
         ev(7, "contact.offered", T + 50000, c=4, transfer_from="x"),
         ev(8, "contact.answered", T + 50000 - 3000, c=4),    # negative wait
         ev(9, "contact.ended", T + 60000, c=4, resolved=True),
         ev(10, "contact.transferred", T + 60000, c=3, to_queue="z"),
         ev(11, "contact.ended", T + 60000, c=5)])
w = w5(r)
check(r["unmatched"] == 2 and w["abandoned"] == 1 and w["answered"] == 3, "unknown waits %r" % w)
check(w["max_wait_ms"] == 10000 and w["asa_ms"] == round((10000 - 3000) / 2), "latest offer; negative wait")
check(w["wait_p50_ms"] == -3000, "p50 of waits -3000 and 10000 by nearest rank")
check(w["transferred_in"] == 1 and w["transferred_out"] == 1 and w["ended"] == 3 and w["resolved"] == 2,
      "handoffs")
check(abs(w["fcr_rate"] - 1 / 3) < 1e-12, "fcr excludes transfer-in")
check(w["aht_ms"] == 56500, "aht from the held answer, also with no offer")
check(r["queues"]["q"]["live"]["waiting"] == 0, "no one waits")

# --- Live: waiting and longest wait; agents.
r = run([ev(1, "contact.offered", T), ev(2, "contact.offered", T + 5000, c=2),
         ev(3, "contact.offered", T + 1000, c=3, q="r"), ev(4, "contact.answered", T + 2000, c=3, q="r"),
         ev(5, "contact.offered", T + 9000, c=4, q="r"),
         {"id": "a1", "type": "agent.state", "ts": T, "agent": "x", "state": "busy", "queues": ["q", "q", "s"]},
         {"id": "a2", "type": "agent.state", "ts": T, "agent": "y", "state": "available", "queues": ["q"]},
         {"id": "a3", "type": "agent.state", "ts": T - 1, "agent": "y", "state": "offline", "queues": ["q"]},
         {"id": "a4", "type": "agent.state", "ts": T, "agent": "z", "state": "away"},
         {"id": "a5", "type": "agent.state", "ts": T, "agent": "u", "state": "wrap_up", "queues": ["q", "r"]}])
lq, lr, lt = r["queues"]["q"]["live"], r["queues"]["r"]["live"], r["total"]["live"]
check(lq["waiting"] == 2 and lq["longest_wait_ms"] == 9000, "waiting / longest %r" % lq)
check(lr["waiting"] == 1 and lr["longest_wait_ms"] == 0, "answered is not waiting")
check(lt["waiting"] == 3 and lt["longest_wait_ms"] == 9000, "total live")
check(lq["agents_busy"] == 1 and lq["agents_available"] == 0 and lq["agents_wrap_up"] == 1, "latest state")
check(r["queues"]["s"]["live"]["agents_busy"] == 1 and r["queues"]["s"]["5m"]["offered"] == 0, "agent-only queue")
check(lt["agents_busy"] == 1 and lt["agents_wrap_up"] == 1 and lt["agents_away"] == 0, "total agents once")

# --- Promises: every outcome.
P = {"promise": "p"}
r = run([ev(1, "promise.made", T, promise="on", due=T + 1000),
         ev(2, "promise.made", T, promise="at", due=T + 1000),
         ev(3, "promise.made", T, promise="late", due=T + 1000),
         ev(4, "promise.made", T, promise="never", due=T + 1000),
         ev(5, "promise.made", T, promise="cb", due=T + 1000),
         ev(6, "promise.made", T, promise="cat", due=T + 1000),
         ev(7, "promise.made", T, promise="caf", due=T + 1000),
         ev(8, "promise.made", T, promise="open", due=T + HR),
         ev(9, "promise.made", T + 1, promise="on", due=T + 5000),    # second made: unmatched
         ev(10, "promise.kept", T + 500, promise="on"),
         ev(11, "promise.cancelled", T + 600, promise="cb"),
         ev(12, "promise.kept", T + 700, promise="on"),                # ignored (held)
         ev(13, "promise.kept", T + 1000, promise="at"),               # at due: on time
         ev(14, "promise.cancelled", T + 1000, promise="cat"),         # at due: due, broken
         ev(15, "promise.kept", T + 3000, promise="late"),             # late, and broken
         ev(16, "promise.cancelled", T + 4000, promise="caf"),
         ev(17, "promise.kept", T + 5000, promise="on"),               # released: unmatched
         ev(18, "promise.kept", T + 5000, promise="ghost"),            # never made: unmatched
         ev(19, "promise.made", T + 6000, promise="past", due=T + 2000),  # comes due at once: broken
         ])
w, lv = w5(r), r["queues"]["q"]["live"]
check(w["promises_made"] == 9 and r["unmatched"] == 3, "made / unmatched %r %r" % (w, r["unmatched"]))
check(w["promises_due"] == 7 and w["promises_kept_on_time"] == 2 and w["promises_broken"] == 5,
      "due / on time / broken %r" % w)
check(w["promises_kept_late"] == 1 and abs(w["promise_kept_rate"] - 2 / 7) < 1e-12, "late / rate")
check(lv["promises_open"] == 1 and lv["promises_overdue"] == 2, "open / overdue %r" % lv)
# A promise due before an event is still held while that event applies.
r = run([ev(1, "promise.made", T, promise="p", due=T + 1000), ev(2, "promise.kept", T + 500, promise="p"),
         ev(3, "promise.kept", T + 2000, promise="p")])
check(r["unmatched"] == 0 and w5(r)["promises_kept_on_time"] == 1, "second kept as the clock passes due")
# Due counts in the bucket of `due`.
r = run([ev(1, "promise.made", T, promise="p", due=T + 10 * M), ev(2, "contact.offered", T + 10 * M + 10 * M, c=9)])
check(w5(r)["promises_due"] == 0 and r["queues"]["q"]["15m"]["promises_due"] == 1, "due bucket")

# --- Surveys and complaints.
r = run([ev(1, "survey.submitted", T, csat=5, empathy=2), ev(2, "survey.submitted", T, csat=3),
         ev(3, "survey.submitted", T, csat=4, empathy=5, tangibles=1),
         ev(4, "complaint.opened", T, complaint="k"), ev(5, "complaint.opened", T + 1000, complaint="k"),
         ev(6, "complaint.resolved", T + 4000, complaint="k"), ev(7, "complaint.resolved", T, complaint="x"),
         ev(8, "complaint.opened", T, complaint="y")])
w = w5(r)
check(w["csat_n"] == 3 and abs(w["csat_avg"] - 4) < 1e-12 and abs(w["csat_satisfied_rate"] - 2 / 3) < 1e-12,
      "csat")
check(abs(w["empathy_avg"] - 3.5) < 1e-12 and w["tangibles_avg"] == 1 and "reliability_avg" not in w, "dims")
check(w["complaints_opened"] == 3 and w["complaints_resolved"] == 2 and w["complaint_resolution_ms"] == 3000,
      "complaints (reopen replaces)")
check(r["queues"]["q"]["live"]["complaints_open"] == 1 and r["unmatched"] == 0, "complaints open")

# --- Duplicates, dedup horizon, late events, bad input changes nothing.
r = run(['{"id":"e1","type":"contact.offered","ts":"bad","queue":"q","contact":"c1"}',
         ev(1, "contact.offered", T), ev(1, "contact.offered", T + 5000),
         ev(2, "contact.offered", T + 25 * HR, c=2),
         ev(1, "contact.offered", T + 25 * HR, c=3),          # forgotten after 24 h: accepted
         ev(3, "contact.offered", T + HR - 1, c=4, q="late"),  # late (before now - 24 h)
         ev(3, "contact.offered", T + 25 * HR, c=5),           # late ids are remembered
         ""])
check(r["errors"]["bad_field"] == 1 and r["duplicates"] == 2 and r["late_events"] == 1, "dup/late %r" % r)
check("late" not in r["queues"] and r["queues"]["q"]["today"]["offered"] == 2, "late changes nothing")
# The forget check uses the clock before the event (dedup precedes the clock).
r = run([ev(0, "contact.offered", T), ev(1, "contact.offered", T + 1000, c=2),
         ev(2, "contact.offered", T + 1000 + 24 * HR, c=3), ev(1, "contact.offered", T + 1001 + 24 * HR, c=4),
         "  \t", ev(3, "contact.offered", T + 2000 + 24 * HR, c=5), ev(1, "contact.offered", T + 2001 + 24 * HR, c=6)])
check(r["duplicates"] == 1 and r["errors"]["bad_json"] == 0, "dedup edge, whitespace line %r" % r)
r = run([ev(1, "contact.offered", T), ev(1, "contact.offered", T + 2 * HR),  # clock still T: duplicate
         ev(2, "contact.offered", T + 2 * HR, c=2), ev(1, "contact.offered", T + 2 * HR)],
        {"dedup": {"horizon": "1h"}})
check(r["duplicates"] == 1 and r["queues"]["q"]["live"]["waiting"] == 2, "dedup horizon 1h %r" % r)

# --- Expiry (open_horizon) before the event applies.
r = run([ev(1, "contact.offered", T), ev(2, "promise.made", T, promise="p", due=T + HR),
         ev(3, "complaint.opened", T, complaint="k"), ev(4, "contact.offered", T + 30 * M, c=2),
         ev(5, "contact.answered", T + 2 * HR + 1, c=1)], {"open_horizon": "2h"})
check(r["expired"] == 3 and r["unmatched"] == 1, "expired %r" % r)
# The jump passes the promise's due and its horizon at once: the clock moves
# (it expires) before promises come due (after the event), so it never
# counts as due. The contract is silent on this order; see the report.
check(r["queues"]["q"]["today"]["promises_due"] == 0, "expired before it came due")
check(r["queues"]["q"]["live"]["waiting"] == 1, "the younger contact still waits")
r = run([ev(2, "promise.made", T, promise="p", due=T + HR), ev(4, "contact.offered", T + HR, c=2),
         ev(5, "contact.offered", T + 2 * HR + 1, c=3)], {"open_horizon": "2h"})
check(r["expired"] == 1 and r["queues"]["q"]["today"]["promises_broken"] == 1, "due, then expired")

# --- Windows and `today` in a zone with DST.
cfg = {"timezone": "America/New_York", "windows": [{"name": "30m", "length": "30m", "bucket": "1m"}]}
nov1 = 1793563200000  # 2026-11-01T20:00:00Z, 15:00 EST, the day clocks went back
r = run([ev(1, "contact.offered", nov1 + 30500)], cfg)
check(set(r["queues"]["q"]) == {"30m", "today", "live"}, "configured windows replace defaults")
check(r["queues"]["q"]["30m"]["window_end"] == nov1 + M and r["queues"]["q"]["30m"]["window_start"] ==
      nov1 + M - 30 * M, "30m/1m bounds")
t = r["queues"]["q"]["today"]
check(t["window_start"] == nov1 - 16 * HR and t["window_end"] - t["window_start"] == 25 * HR, "25 h today %r" % t)

# --- Closed minutes: written when the clock leaves them, with the dues the
# leaving event brought; a late event for a written minute is not in it.
mins = []
rm.run_bytes(b"\n".join(json.dumps(e).encode() for e in [
    ev(1, "contact.offered", T + 1000), ev(2, "promise.made", T + 2000, promise="p", due=T + 59000),
    ev(3, "contact.offered", T + M + 1, c=2), ev(4, "contact.answered", T + 5000),
    ev(5, "contact.offered", T + 3 * M, c=3)]), {}, mins)
check([(m["queue"], m["window_start"]) for m in mins] == [("q", T), ("q", T + M)], "minutes %r" % mins)
check(mins[0]["offered"] == 1 and mins[0]["answered"] == 0 and mins[0]["promises_due"] == 1 and
      mins[0]["promises_broken"] == 1 and mins[0]["window_end"] == T + M, "minute 0 %r" % mins[0])
check(mins[1]["offered"] == 1, "minute 1")

print("reference model self-test: %d checks passed" % passed)
