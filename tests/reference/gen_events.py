#!/usr/bin/env python3
"""Deterministic NDJSON contact-center traffic for the reference test.

usage: gen_events.py --seed N --out FILE [--hours H] [--mean-gap-s S]
                     [--start MS] [--gap-hours G] [--dedup-hours D]
                     [--bad] [--odd] [--huge]

Same seed and options, same bytes. Covers every event type and the awkward
cases of the contract: offers/answers/abandons (short, long, at the short
limit, with no offer held), re-offers, negative waits, transfers, ends with
and without `resolved`, every promise outcome (kept before / exactly at /
after due, never kept, cancelled before / at / after due, a second made, a
second kept before and after release, kept or cancelled with no made, made
already overdue), surveys with and without dimensions, complaints (reopened,
resolved without an opening), agent states (offline, duplicate queues, a
queue named only by agents), duplicates near and far (kept clear of the
dedup horizon's edge), late events, small out-of-order jitter, integer and
RFC 3339 times (Z, lowercase, offsets, 1..9 fraction digits, second 60),
escaped strings and blank lines.
  --bad   adds bad lines of every reason (each kind at least once)
  --odd   adds valid-but-odd lines: null optionals, duplicate keys, unknown
          and other types' fields, escapes, a queue name needing escapes
  --huge  adds one line over 1 MiB (bad_json)
  --longest-hours L: the longest configured window (late events are made
          more than L + 1 h old, once the run is L + 3 h long)
  --gap-hours G: an idle gap of G hours in the middle; events that would
          fall inside it are dropped, so held records go stale and expire.
"""
import argparse
import datetime
import json
import random

START = 1795300000000  # 2026-11-21T22:26:40Z: 30 h end 04:26Z (23:26 in New York) two days on
H = 3600000
QUEUES = ["billing", "tech_support", "sales", "retention", "chat\u00e9"]
ODD_QUEUE = 'vip "east"\\1'


def rfc3339(ms, r):
    """One of several RFC 3339 spellings of `ms` (all exact to the ms)."""
    style = r.randrange(7)
    off_min = {0: 0, 1: 0, 2: 120, 3: -330, 4: 0, 5: 60, 6: -600}[style]
    dt = datetime.datetime.fromtimestamp(ms // 1000, tz=datetime.timezone.utc) + \
        datetime.timedelta(minutes=off_min)
    frac_ms = ms % 1000
    sec = dt.second
    if style == 6 and sec == 0 and r.random() < 0.5:
        dt -= datetime.timedelta(seconds=1)  # 23:59:60 is the next second
        sec = 60
    base = dt.strftime("%Y-%m-%dT%H:%M:") + "%02d" % sec
    if style == 1:
        base = base.replace("T", "t")
    if frac_ms == 0 and style in (0, 4):
        frac = ""
    elif style == 4:
        frac = "." + ("%03d" % frac_ms) + "999999"  # 9 digits: truncated to ms
    elif frac_ms % 100 == 0:
        frac = ".%d" % (frac_ms // 100)  # 1 digit
    else:
        frac = ".%03d" % frac_ms
    if off_min == 0:
        zone = "z" if style == 1 else "Z"
        if style == 4:
            zone = "+00:00"
    else:
        sign = "+" if off_min > 0 else "-"
        zone = "%s%02d:%02d" % (sign, abs(off_min) // 60, abs(off_min) % 60)
    return base + frac + zone


class Gen:
    def __init__(self, a):
        self.a = a
        self.r = random.Random(a.seed)
        self.n = 0
        self.events = []  # [arrival key, seq, dict]
        self.queues = list(QUEUES) + ([ODD_QUEUE] if a.odd else [])
        self.start = a.start
        self.end = a.start + int(a.hours * H)
        self.gap = None
        if a.gap_hours:
            mid = (self.start + self.end) // 2
            self.gap = (mid, mid + int(a.gap_hours * H))
            self.end += int(a.gap_hours * H)

    def ev(self, ts, typ, arrive=None, **kw):
        if self.gap and self.gap[0] <= ts < self.gap[1]:
            return None  # nothing happens during the idle gap
        if ts >= self.end:
            return None
        self.n += 1
        d = {"id": "e-%d" % self.n, "type": typ, "ts": ts}
        d.update(kw)
        self.events.append([ts if arrive is None else arrive, self.n, d])
        return d

    def contact(self, t, q):
        r = self.r
        c = "c-%d" % self.n
        ch = r.choice(["voice"] * 4 + ["chat", "chat", "email", "sms", "social", "video", None])
        kw = {"queue": q, "contact": c}
        if ch:
            kw["channel"] = ch
        self.ev(t, "contact.offered", **kw)
        fate = r.random()
        if fate < 0.03:  # re-offered (requeued): a new wait starts
            t += r.randrange(1000, 40000)
            self.ev(t, "contact.offered", **kw)
            fate = r.random()
        if fate < 0.09:
            w = r.choice([1000, 3000, 4999, 5000, 9000, 9999, 10000, 60000, r.randrange(1, 300000)])
            self.ev(t + w, "contact.abandoned", queue=q, contact=c)
            return
        if fate < 0.10:  # ended unanswered (e.g. routed to voicemail)
            self.ev(t + r.randrange(1000, 50000), "contact.ended", queue=q, contact=c)
            return
        if fate < 0.105:  # answer stamped before the offer: a negative wait
            self.ev(t - r.randrange(1, 3000), "contact.answered", arrive=t + 1, queue=q, contact=c)
            t2 = t + 1
        else:
            wait = r.choice([int(r.expovariate(1 / 25000.0))] * 8 + [20000, 20001, 60000, 30000])
            t2 = t + wait
            self.ev(t2, "contact.answered", queue=q, contact=c, agent="a-%d" % r.randrange(20))
        t3 = t2 + int(r.expovariate(1 / 240000.0))
        if fate < 0.17:
            q2 = r.choice(self.queues)
            if q2 != q:
                tr = {"queue": q, "contact": c, "to_queue": q2}
                if r.random() < 0.5:
                    tr["to_agent"] = "a-%d" % r.randrange(20)
                self.ev(t3, "contact.transferred", **tr)
                self.ev(t3 + 1, "contact.offered", queue=q2, contact=c, transfer_from=q,
                        channel=ch or "voice")
                f2 = r.random()
                if f2 < 0.15:
                    self.ev(t3 + r.randrange(100, 20000), "contact.abandoned", queue=q2, contact=c)
                    return
                t4 = t3 + int(r.expovariate(1 / 30000.0))
                self.ev(t4, "contact.answered", queue=q2, contact=c)
                self.ev(t4 + r.randrange(10000, 600000), "contact.ended", queue=q2, contact=c,
                        resolved=r.random() < 0.7)
                return
        end = {"queue": q, "contact": c}
        if r.random() < 0.8:
            end["resolved"] = r.random() < 0.6
        self.ev(t3, "contact.ended", **end)
        if r.random() < 0.3:
            s = {"queue": q, "contact": c, "csat": r.randint(1, 5)}
            for dim in ["reliability", "responsiveness", "assurance", "empathy", "tangibles"]:
                if r.random() < 0.5:
                    s[dim] = r.randint(1, 5)
            self.ev(t3 + r.randrange(5000, 600000), "survey.submitted", **s)
        if r.random() < 0.15:
            self.promise(t3, q, c)
        if r.random() < 0.04:
            k = "k-%d" % self.n
            self.ev(t3 + 1000, "complaint.opened", queue=q, contact=c, complaint=k)
            if r.random() < 0.1:
                self.ev(t3 + 2000, "complaint.opened", queue=q, contact=c, complaint=k)
            if r.random() < 0.7:
                self.ev(t3 + 3000 + int(r.expovariate(1 / 3600000.0)), "complaint.resolved",
                        queue=q, contact=c, complaint=k)

    def promise(self, t, q, c):
        r = self.r
        p = "p-%d" % self.n
        due = t + r.choice([600000, 1800000, 3600000, 4 * H, 20 * H])
        made = {"queue": q, "contact": c, "promise": p, "due": due}
        if r.random() < 0.7:
            made["kind"] = r.choice(["callback", "follow_up", "resolution", "other"])
        o = r.randrange(14)
        if o == 12:  # made with its deadline already passed
            made["due"] = due = t - r.randrange(1000, 600000)
        self.ev(t, "promise.made", **made)
        ref = {"queue": q, "contact": c, "promise": p}
        if o == 0:
            self.ev(due, "promise.kept", **ref)  # exactly at due: on time
        elif o == 1:
            self.ev(due - r.randrange(1, 500000), "promise.kept", **ref)
        elif o == 2:
            self.ev(due + r.randrange(1, 600000), "promise.kept", **ref)
        elif o == 3:
            self.ev(due - r.randrange(1, 500000), "promise.cancelled", **ref)
        elif o == 4:
            self.ev(due, "promise.cancelled", **ref)  # at due: due, broken
        elif o == 5:
            self.ev(due + r.randrange(1, 600000), "promise.cancelled", **ref)
        elif o == 6:  # a second made while held: ignored, unmatched
            self.ev(t + 10, "promise.made", **dict(made, due=due + 60000))
            self.ev(due - 10, "promise.kept", **ref)
        elif o == 7:  # a second kept while held (ignored) and after release (unmatched)
            self.ev(due - 20, "promise.kept", **ref)
            self.ev(due - 10, "promise.kept", **ref)
            self.ev(due + 10, "promise.kept", **ref)
        elif o == 8:  # kept / cancelled with no made
            self.ev(t + 20, "promise.kept", **dict(ref, promise="ghost-%d" % self.n))
            self.ev(t + 30, "promise.cancelled", **dict(ref, promise="ghost2-%d" % self.n))
        elif o == 9:  # cancelled, then kept: the first counts
            self.ev(due - 5000, "promise.cancelled", **ref)
            self.ev(due - 4000, "promise.kept", **ref)
        elif o == 12:
            self.ev(t + 5000, "promise.kept", **ref)  # late
        # o in (10, 11, 13): never kept

    def agents(self, t):
        r = self.r
        for a in range(15):
            if r.random() < 0.3:
                qs = r.sample(self.queues, r.randint(0, 3))
                if qs and r.random() < 0.15:
                    qs = qs + [qs[0]]  # a duplicate in the list
                if r.random() < 0.08:
                    qs.append("backoffice")  # a queue only agents name
                st = r.choice(["available", "available", "busy", "busy", "wrap_up", "away", "offline"])
                kw = {"agent": "a-%d" % a, "state": st}
                if qs or r.random() < 0.5:
                    kw["queues"] = qs
                self.ev(t, "agent.state", **kw)

    def run(self):
        r = self.r
        t = self.start
        while True:
            t += int(r.expovariate(1 / (self.a.mean_gap_s * 1000.0))) + 1
            if self.gap and self.gap[0] <= t < self.gap[1]:
                t = self.gap[1] + r.randrange(1, 60000)
            if t >= self.end:
                break
            self.contact(t, r.choice(self.queues))
            if r.random() < 0.06:
                self.agents(t + 1)
            if r.random() < 0.004:  # no offer held
                self.ev(t, "contact.answered", queue=r.choice(self.queues), contact="nobody-%d" % self.n)
                self.ev(t, "contact.abandoned", queue=r.choice(self.queues), contact="nobody-%d" % self.n)
                self.ev(t, "complaint.resolved", queue=r.choice(self.queues), contact="x",
                        complaint="none-%d" % self.n)

    def lines(self):
        r, a = self.r, self.a
        ev = sorted(self.events, key=lambda e: (e[0], e[1]))
        for i in range(len(ev) - 1):  # arrival: time order with a little jitter
            if r.random() < 0.03 and abs(ev[i + 1][0] - ev[i][0]) < 600000:
                ev[i], ev[i + 1] = ev[i + 1], ev[i]
        out = []
        clock = None
        first = []  # (clock at acceptance, line) of lines not yet repeated
        dedup = a.dedup_hours * H
        longest = int(a.longest_hours * H)
        n_late = 0
        edge_done = False
        for n, (_, _, d) in enumerate(ev):
            if a.odd and n == len(ev) // 2:
                out.extend(odd_lines(clock))
                clock += 90000  # the latest odd line
            d = dict(d)
            ts = d["ts"]
            if r.random() < 0.25:
                d["ts"] = rfc3339(ts, r)
            if "due" in d and r.random() < 0.25:
                d["due"] = rfc3339(d["due"], r)
            if r.random() < 0.02:
                d["id"] = "\\u0065" + d["id"][1:]  # "\u0065-12" is "e-12"
            line = json.dumps(d, ensure_ascii=r.random() < 0.5).replace("\\\\u0065", "\\u0065")
            out.append(line)
            clock = ts if clock is None else max(clock, ts)
            first.append((clock, line))
            if r.random() < 0.01:
                out.append(line)  # duplicate right away
            if r.random() < 0.004 and len(first) > 200:
                # A duplicate from long ago, clear of the dedup horizon's
                # edge by more than any gap between events: either still a
                # duplicate, or forgotten and then late (never re-applied
                # with a time older than the open horizon, whose moment of
                # expiry the contract leaves open).
                i = r.randrange(len(first) - 100)
                c0, old = first[i]
                age = clock - c0
                if old is not None and (age < dedup - 2 * H or age > max(dedup, longest) + 2 * H):
                    out.append(old)
                    first[i] = (c0, None)
            if clock - self.start > longest + 3 * H and not edge_done:
                # The late limit exactly: `ts < now - L` is late, `ts == now - L` is not.
                edge_done = True
                for k, ets in (("edge-ok", clock - longest), ("edge-late", clock - longest - 1)):
                    out.append(json.dumps({"id": k, "type": "survey.submitted", "ts": ets,
                                           "queue": "sales", "contact": k, "csat": 2}))
            if clock - self.start > longest + 3 * H and r.random() < 0.003:
                n_late += 1
                late_ts = clock - longest - H - r.randrange(1, 2 * H)
                q = r.choice(self.queues + ["late_only"])
                typ = r.choice(["contact.offered", "survey.submitted", "contact.answered"])
                late = {"id": "late-%d" % n_late, "type": typ, "ts": late_ts, "queue": q,
                        "contact": "late-%d" % n_late, "csat": 1}
                out.append(json.dumps(late))
                if r.random() < 0.3:
                    out.append(json.dumps(dict(late, ts=clock)))  # same id again: duplicate
            if r.random() < 0.003:
                out.append(r.choice(["", "", " \t"]))  # blank line
        out = [l.encode("utf-8") for l in out]
        if a.bad:
            bad = [line for _, line in bad_lines(self.start + H)]
            self.insert_spread(out, bad)
            for _ in range(len(out) // 150):
                out.insert(r.randrange(len(out)), r.choice(bad))
        if a.huge:
            big = b'{"id":"huge","type":"contact.offered","ts":1,"queue":"q","contact":"c","pad":"' + \
                b"x" * (1 << 20) + b'"}'
            out.insert(len(out) // 3, big)
        return out

    def insert_spread(self, out, extra):
        step = max(1, len(out) // (len(extra) + 1))
        for i, line in enumerate(extra):
            out.insert((i + 1) * step + i, line)


def odd_lines(t):
    """Valid lines a careful decoder must accept as they are, from `t` on."""
    q = json.dumps(ODD_QUEUE)
    return [
        # null optionals: channel defaults to voice, no transfer, not resolved
        '{"id":"odd-1","type":"contact.offered","ts":%d,"queue":%s,"contact":"o1","channel":null,'
        '"transfer_from":null,"agent":null}' % (t, q),
        '{"id":"odd-2","type":"contact.answered","ts":%d,"queue":%s,"contact":"o1"}' % (t + 21000, q),
        '{"id":"odd-3","type":"contact.ended","ts":%d,"queue":%s,"contact":"o1","resolved":null}' % (t + 90000, q),
        # duplicate keys: the last wins
        '{"id":"odd-4","type":"contact.offered","ts":%d,"queue":"sales","queue":"billing","contact":"o2",'
        '"channel":"email","channel":"chat"}' % (t + 1000),
        '{"id":"odd-5","type":"contact.answered","ts":%d,"queue":"billing","contact":"o2"}' % (t + 61000),
        # escapes in ids and names: \u0062illing is billing, \/ is /
        '{"id":"odd\\u002d6","type":"contact.offered","ts":%d,"queue":"\\u0062illing","contact":"o\\/3"}' % (t + 2000),
        '{"id":"odd-7","type":"contact.abandoned","ts":%d,"queue":"billing","contact":"o/3"}' % (t + 7000),
        # other types' fields (even malformed) and unknown fields are ignored
        '{"id":"odd-8","type":"contact.offered","ts":%d,"queue":"sales","contact":"o4","csat":"x",'
        '"due":"never","state":"asleep","queues":7,"extra":{"a":[1,2,{"b":null}]},"n":1.5e3}' % (t + 3000),
        '{"id":"odd-9","type":"survey.submitted","ts":%d,"queue":"sales","contact":"o4","csat":4,'
        '"resolved":"maybe","empathy":5,"tangibles":null}' % (t + 4000),
        # an agent on a contact event; a 128-byte id (64 two-byte chars)
        '{"id":"%s","type":"contact.offered","ts":%d,"queue":"sales","contact":"o5","agent":"a-1"}'
        % ("\u00e9" * 64, t + 5000),
        # -0 is 0: far in the past, so late (once the clock is past 24 h)
        '{"id":"odd-10","type":"contact.offered","ts":-0,"queue":"sales","contact":"o6"}',
        # transfer in with an offer, then ended resolved: not first-contact
        '{"id":"odd-11","type":"contact.offered","ts":%d,"queue":%s,"contact":"o7","transfer_from":"sales"}' % (t + 6000, q),
        '{"id":"odd-12","type":"contact.ended","ts":%d,"queue":%s,"contact":"o7","resolved":true}' % (t + 9000, q),
        # 64 levels deep in an unknown field (the event itself is level 1)
        '{"id":"odd-13","type":"complaint.opened","ts":%d,"queue":"sales","contact":"o8","complaint":"k1",'
        '"x":%s}' % (t + 10000, "[" * 10 + "]" * 10),
        '{"id":"odd-14","type":"agent.state","ts":%d,"agent":"a-odd","state":"busy","queues":[%s,"backoffice",%s]}'
        % (t + 11000, q, q),
    ]


def bad_lines(t):
    """[(reason, line bytes)]: each rejected for one reason (the contract's
    check order decides which)."""
    base = '"id":"b","type":"contact.offered","ts":%d,"queue":"q","contact":"c"' % t
    groups = {}
    groups["bad_json"] = [
        '{"id":"b","type":"contact.offered"',
        'not json',
        '[1,2,3]',
        '"just a string"',
        'null',
        '{%s} x' % base,
        '{%s,"x":"\\udcff"}' % base,
        '{%s,"x":NaN}' % base,
        "{'id':'b'}",
        '{%s,"x":%s}' % (base, "[" * 100 + "]" * 100),
        '{%s,"x":"tab\there"}' % base,
    ]
    groups["missing_field"] = [
        '{"type":"contact.offered","ts":%d,"queue":"q","contact":"c"}' % t,
        '{"id":null,"type":"contact.offered","ts":%d,"queue":"q","contact":"c"}' % t,
        '{"id":"b","ts":%d,"queue":"q","contact":"c"}' % t,
        '{"id":"b","type":"contact.offered","queue":"q","contact":"c"}',
        '{"id":"b","type":"contact.offered","ts":%d,"contact":"c"}' % t,
        '{"id":"b","type":"contact.offered","ts":%d,"queue":"q"}' % t,
        '{"id":"b","type":"contact.offered","ts":%d,"queue":null,"contact":"c","channel":"fax"}' % t,
        '{"id":"b","type":"promise.made","ts":%d,"queue":"q","contact":"c","promise":"p"}' % t,
        '{"id":"b","type":"promise.made","ts":%d,"queue":"q","contact":"c","due":%d,"kind":"x"}' % (t, t),
        '{"id":"b","type":"promise.kept","ts":%d,"queue":"q","contact":"c"}' % t,
        '{"id":"b","type":"survey.submitted","ts":%d,"queue":"q","contact":"c","empathy":9}' % t,
        '{"id":"b","type":"complaint.resolved","ts":%d,"queue":"q","contact":"c"}' % t,
        '{"id":"b","type":"agent.state","ts":%d,"state":"available"}' % t,
        '{"id":"b","type":"agent.state","ts":%d,"agent":"a"}' % t,
        '{"id":"b","type":"contact.offered","ts":%d,"channel":"fax"}' % t,  # queue before channel
    ]
    groups["unknown_type"] = [
        '{"id":"b","type":"contact.exploded","ts":%d,"queue":"q","contact":"c"}' % t,
        '{"id":"b","type":"Contact.Offered","ts":%d,"queue":"q","contact":"c"}' % t,
        '{"id":"b","type":"","queue":"q","contact":"c"}',
        '{"id":"b","type":"nope"}',  # type before ts
    ]
    groups["bad_field"] = [
        '{"id":"","type":"contact.offered","ts":%d,"queue":"q","contact":"c"}' % t,
        '{"id":7,"type":"nope"}',
        '{"id":"%s","type":"contact.offered","ts":%d,"queue":"q","contact":"c"}' % ("\u00e9" * 65, t),
        '{"id":"b","type":7,"ts":%d,"queue":"q","contact":"c"}' % t,
        '{"id":"b","type":"contact.offered","ts":"yesterday","queue":"q","contact":"c"}',
        '{"id":"b","type":"contact.offered","ts":%d.5,"queue":"q","contact":"c"}' % t,
        '{"id":"b","type":"contact.offered","ts":1.7e12,"queue":"q","contact":"c"}',
        '{"id":"b","type":"contact.offered","ts":-5,"queue":"q","contact":"c"}',
        '{"id":"b","type":"contact.offered","ts":9223372036854775808,"queue":"q","contact":"c"}',
        '{"id":"b","type":"contact.offered","ts":"2026-02-30T00:00:00Z","queue":"q","contact":"c"}',
        '{"id":"b","type":"contact.offered","ts":"2026-11-22T24:00:00Z","queue":"q","contact":"c"}',
        '{"id":"b","type":"contact.offered","ts":"2026-11-22 10:00:00Z","queue":"q","contact":"c"}',
        '{"id":"b","type":"contact.offered","ts":"2026-11-22T10:00:00","queue":"q","contact":"c"}',
        '{"id":"b","type":"contact.offered","ts":"2026-11-22T10:00:00+24:00","queue":"q","contact":"c"}',
        '{"id":"b","type":"contact.offered","ts":"2026-11-22T10:00:00+0530","queue":"q","contact":"c"}',
        '{"id":"b","type":"contact.offered","ts":"2026-11-22T10:00:00.Z","queue":"q","contact":"c"}',
        '{"id":"b","type":"contact.offered","ts":"1969-12-31T23:59:59Z","queue":"q","contact":"c"}',
        '{"id":"b","type":"contact.offered","ts":true,"queue":"q","contact":"c"}',
        '{"id":"b","type":"contact.offered","ts":%d,"queue":"%s","contact":"c"}' % (t, "q" * 129),
        '{"id":"b","type":"contact.offered","ts":%d,"queue":5,"contact":"c"}' % t,
        '{"id":"b","type":"contact.offered","ts":%d,"queue":"q","contact":""}' % t,
        '{"id":"b","type":"contact.offered","ts":%d,"queue":"q","contact":"c","channel":"fax"}' % t,
        '{"id":"b","type":"contact.offered","ts":%d,"queue":"q","contact":"c","channel":"Voice"}' % t,
        '{"id":"b","type":"survey.submitted","ts":%d,"queue":"q","contact":"c","agent":5}' % t,
        '{"id":"b","type":"contact.offered","ts":%d,"queue":"q","contact":"c","transfer_from":""}' % t,
        '{"id":"b","type":"contact.transferred","ts":%d,"queue":"q","contact":"c","to_queue":3}' % t,
        '{"id":"b","type":"contact.transferred","ts":%d,"queue":"q","contact":"c","to_agent":[]}' % t,
        '{"id":"b","type":"contact.ended","ts":%d,"queue":"q","contact":"c","resolved":"yes"}' % t,
        '{"id":"b","type":"contact.ended","ts":%d,"queue":"q","contact":"c","resolved":1}' % t,
        '{"id":"b","type":"promise.made","ts":%d,"queue":"q","contact":"c","promise":"p","due":"x"}' % t,
        '{"id":"b","type":"promise.made","ts":%d,"queue":"q","contact":"c","promise":"p","due":%d,'
        '"kind":"urgent"}' % (t, t),
        '{"id":"b","type":"promise.kept","ts":%d,"queue":"q","contact":"c","promise":12}' % t,
        '{"id":"b","type":"survey.submitted","ts":%d,"queue":"q","contact":"c","csat":6}' % t,
        '{"id":"b","type":"survey.submitted","ts":%d,"queue":"q","contact":"c","csat":5.0}' % t,
        '{"id":"b","type":"survey.submitted","ts":%d,"queue":"q","contact":"c","csat":0}' % t,
        '{"id":"b","type":"survey.submitted","ts":%d,"queue":"q","contact":"c","csat":"5"}' % t,
        '{"id":"b","type":"survey.submitted","ts":%d,"queue":"q","contact":"c","csat":5,"reliability":9}' % t,
        '{"id":"b","type":"complaint.opened","ts":%d,"queue":"q","contact":"c","complaint":""}' % t,
        '{"id":"b","type":"agent.state","ts":%d,"agent":"a","state":"asleep"}' % t,
        '{"id":"b","type":"agent.state","ts":%d,"agent":"a","state":"busy","queues":"billing"}' % t,
        '{"id":"b","type":"agent.state","ts":%d,"agent":"a","state":"busy","queues":[1]}' % t,
        '{"id":"b","type":"agent.state","ts":%d,"agent":"a","state":"busy","queues":[""]}' % t,
        '{"id":"b","type":"agent.state","ts":%d,"agent":"","state":"busy"}' % t,
        # check order: the first failing check names the reason
        '{"id":"","ts":%d}' % t,  # id before type
        '{"id":"b","type":"contact.offered","ts":"x"}',  # ts before queue
        '{"id":"b","type":"promise.kept","ts":%d,"queue":"q","contact":"c","channel":"fax"}' % t,  # channel before promise
        '{"id":"b","type":"survey.submitted","ts":%d,"queue":"q","contact":"c","agent":""}' % t,  # agent before csat
    ]
    out = [(reason, l.encode("utf-8")) for reason, ls in groups.items() for l in ls]
    out += [("bad_json", l) for l in [
        b'{"id":"b","type":"contact.offered","ts":1,"queue":"\xff","contact":"c"}',  # bad UTF-8
        b'{"id":"b","type":"contact.offered","ts":1,"queue":"\xc3","contact":"c"}',  # truncated UTF-8
        b'{"id":"b","type":"contact.offered","ts":1,"queue":"\xed\xa0\x80","contact":"c"}',  # surrogate
        b'\xef\xbb\xbf{"id":"bom","type":"contact.offered","ts":1,"queue":"q","contact":"c"}',  # BOM
    ]]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--hours", type=float, default=30)
    ap.add_argument("--mean-gap-s", type=float, default=30)
    ap.add_argument("--start", type=int, default=START)
    ap.add_argument("--gap-hours", type=float, default=0)
    ap.add_argument("--dedup-hours", type=float, default=24)
    ap.add_argument("--longest-hours", type=float, default=24)
    ap.add_argument("--bad", action="store_true")
    ap.add_argument("--odd", action="store_true")
    ap.add_argument("--huge", action="store_true")
    a = ap.parse_args()
    g = Gen(a)
    g.run()
    lines = g.lines()
    with open(a.out, "wb") as f:
        for line in lines:
            f.write(line + b"\n")


if __name__ == "__main__":
    main()
