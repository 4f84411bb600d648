#!/usr/bin/env python3
"""Deterministic NDJSON traffic for the reference test.

Covers every event type and the awkward cases of the contract: transfers,
every promise outcome (including exactly-at-deadline), surveys with and
without dimensions, complaints, agent states, duplicates, late and
out-of-order events, both time forms, escaped ids, and (with --bad) bad
lines of each reason.
"""
import argparse
import datetime
import json
import random

START = 1795300000000  # 2026-11-21T21:06:40Z: the run crosses a UTC midnight


def rfc3339(ms, rnd):
    dt = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    style = rnd.randrange(4)
    if style == 0:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)
    if style == 1:
        return dt.strftime("%Y-%m-%dt%H:%M:%S.") + "%03d" % (ms % 1000) + "456z"
    if style == 2:
        local = dt + datetime.timedelta(hours=2)
        return local.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d+02:00" % (ms % 1000)
    local = dt - datetime.timedelta(hours=5, minutes=30)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d-05:30" % (ms % 1000)


class Gen:
    def __init__(self, seed, hours, gap_hours):
        self.r = random.Random(seed)
        self.hours = hours
        self.gap_hours = gap_hours
        self.n = 0
        self.events = []  # (ts, order, dict)
        self.queues = ["billing", "tech_support", "sales", "retention", "chat\u00e9"]

    def ev(self, ts, typ, **kw):
        self.n += 1
        d = {"id": "e-%d" % self.n, "type": typ, "ts": ts}
        d.update(kw)
        self.events.append([ts, self.n, d])
        return d

    def contact(self, t, q):
        r = self.r
        c = "c-%d" % self.n
        ch = r.choice(["voice", "voice", "voice", "chat", "email", "sms", "social", "video", None])
        kw = {"queue": q, "contact": c}
        if ch:
            kw["channel"] = ch
        self.ev(t, "contact.offered", **kw)
        fate = r.random()
        wait = int(r.expovariate(1 / 25000.0))
        if fate < 0.08:
            self.ev(t + r.choice([1000, 3000, 4999, 5000, 9000, 60000]), "contact.abandoned", queue=q, contact=c)
            return
        t2 = t + wait
        self.ev(t2, "contact.answered", queue=q, contact=c, agent="a-%d" % r.randrange(20))
        t3 = t2 + int(r.expovariate(1 / 240000.0))
        if fate < 0.15:
            q2 = r.choice(self.queues)
            if q2 != q:
                self.ev(t3, "contact.transferred", queue=q, contact=c, to_queue=q2)
                self.ev(t3 + 1, "contact.offered", queue=q2, contact=c, transfer_from=q)
                t4 = t3 + int(r.expovariate(1 / 30000.0))
                self.ev(t4, "contact.answered", queue=q2, contact=c)
                self.ev(t4 + 60000, "contact.ended", queue=q2, contact=c, resolved=r.random() < 0.7)
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
            self.ev(t3 + 30000, "survey.submitted", **s)
        if r.random() < 0.12:
            self.promise(t3, q, c)
        if r.random() < 0.03:
            k = "k-%d" % self.n
            self.ev(t3 + 1000, "complaint.opened", queue=q, contact=c, complaint=k)
            if r.random() < 0.7:
                self.ev(t3 + int(r.expovariate(1 / 3600000.0)), "complaint.resolved", queue=q, contact=c, complaint=k)

    def promise(self, t, q, c):
        r = self.r
        p = "p-%d" % self.n
        due = t + r.choice([600000, 1800000, 3600000, 4 * 3600000])
        self.ev(t, "promise.made", queue=q, contact=c, promise=p, due=due,
                kind=r.choice(["callback", "follow_up", "resolution", "other"]))
        o = r.randrange(10)
        if o == 0:
            self.ev(due, "promise.kept", queue=q, contact=c, promise=p)
        elif o == 1:
            self.ev(due - r.randrange(1, 600000), "promise.kept", queue=q, contact=c, promise=p)
        elif o == 2:
            self.ev(due + r.randrange(1, 600000), "promise.kept", queue=q, contact=c, promise=p)
        elif o == 3:
            self.ev(due - 1000, "promise.cancelled", queue=q, contact=c, promise=p)
        elif o == 4:
            self.ev(due, "promise.cancelled", queue=q, contact=c, promise=p)
        elif o == 5:
            self.ev(due + 5000, "promise.cancelled", queue=q, contact=c, promise=p)
        elif o == 6:
            self.ev(t + 10, "promise.made", queue=q, contact=c, promise=p, due=due)
            self.ev(due - 10, "promise.kept", queue=q, contact=c, promise=p)
            self.ev(due + 10, "promise.kept", queue=q, contact=c, promise=p)
        elif o == 7:
            self.ev(t + 20, "promise.kept", queue=q, contact=c, promise="ghost-%d" % self.n)
        # o >= 8: never kept

    def agents(self, t):
        r = self.r
        for a in range(12):
            if r.random() < 0.3:
                qs = r.sample(self.queues, r.randint(0, 3))
                if r.random() < 0.1:
                    qs = qs + qs
                if r.random() < 0.05:
                    qs.append("backoffice")
                st = r.choice(["available", "busy", "wrap_up", "away", "offline"])
                self.ev(t, "agent.state", agent="a-%d" % a, state=st, queues=qs)

    def run(self):
        r = self.r
        t = START
        end = START + int(self.hours * 3600000)
        while t < end:
            t += int(r.expovariate(1 / 30000.0))
            if self.gap_hours and abs(t - (START + end) // 2) < 1000:
                t += int(self.gap_hours * 3600000)
            self.contact(t, r.choice(self.queues))
            if r.random() < 0.05:
                self.agents(t)
            if r.random() < 0.002:
                self.ev(t, "contact.answered", queue=r.choice(self.queues), contact="nobody-%d" % self.n)
                self.ev(t, "contact.abandoned", queue=r.choice(self.queues), contact="nobody2-%d" % self.n)
                self.ev(t, "complaint.resolved", queue=r.choice(self.queues), contact="x", complaint="none-%d" % self.n)

    def lines(self, bad):
        r = self.r
        ev = sorted(self.events, key=lambda e: (e[0], e[1]))
        # Arrival order: mostly time order, with small jitter.
        for i in range(len(ev) - 1):
            if r.random() < 0.03:
                ev[i], ev[i + 1] = ev[i + 1], ev[i]
        out = []
        maxts = 0
        for ts, _, d in ev:
            d = dict(d)
            if r.random() < 0.2:
                d["ts"] = rfc3339(ts, r)
            if r.random() < 0.01:
                d["id"] = d["id"].replace("e-", "\\u0065-")
            line = json.dumps(d, ensure_ascii=False).replace("\\\\u0065", "\\u0065")
            out.append(line)
            maxts = max(maxts, ts)
            if r.random() < 0.01:
                out.append(line)  # duplicate right away
            if r.random() < 0.002 and len(out) > 100:
                out.append(r.choice(out[:-50]))  # duplicate from long ago
            if r.random() < 0.002:
                late = {"id": "late-%d" % len(out), "type": "contact.offered", "ts": maxts - 25 * 3600000 - 1,
                        "queue": "billing", "contact": "late"}
                out.append(json.dumps(late))
            if bad and r.random() < 0.01:
                out.append(r.choice(BAD))
            if r.random() < 0.002:
                out.append(r.choice(["", "   ", "\t"]))
        return out


BAD = [
    '{"id":"b1","type":"contact.offered"',
    'not json',
    '[1,2,3]',
    '{"id":"b2","type":"contact.offered","ts":1795300000000,"queue":"q","contact":"c"} x',
    '{"id":"b3","type":"contact.offered","ts":1795300000000,"queue":"q","contact":"c","x":"\udcff"}',
    '{"type":"contact.offered","ts":1795300000000,"queue":"q","contact":"c"}',
    '{"id":"b4","ts":1795300000000,"queue":"q","contact":"c"}',
    '{"id":"b5","type":"contact.offered","queue":"q","contact":"c"}',
    '{"id":"b6","type":"contact.offered","ts":1795300000000,"contact":"c"}',
    '{"id":"b7","type":"promise.made","ts":1795300000000,"queue":"q","contact":"c","promise":"p"}',
    '{"id":"b8","type":"contact.exploded","ts":1795300000000,"queue":"q","contact":"c"}',
    '{"id":"b9","type":"contact.offered","ts":"yesterday","queue":"q","contact":"c"}',
    '{"id":"b10","type":"contact.offered","ts":1795300000000.5,"queue":"q","contact":"c"}',
    '{"id":"b11","type":"contact.offered","ts":1795300000000,"queue":"' + "q" * 129 + '","contact":"c"}',
    '{"id":"b12","type":"survey.submitted","ts":1795300000000,"queue":"q","contact":"c","csat":6}',
    '{"id":"b13","type":"survey.submitted","ts":1795300000000,"queue":"q","contact":"c","csat":5.0}',
    '{"id":"b14","type":"contact.offered","ts":"2026-02-30T00:00:00Z","queue":"q","contact":"c"}',
    '{"id":"b15","type":"contact.offered","ts":1795300000000,"queue":"q","contact":"c","channel":"fax"}',
    '{"id":"","type":"contact.offered","ts":1795300000000,"queue":"q","contact":"c"}',
    '{"id":"b16","type":7,"ts":1795300000000,"queue":"q","contact":"c"}',
    '{"id":"b17","type":"agent.state","ts":1795300000000,"state":"available"}',
    '{"id":"b18","type":"agent.state","ts":1795300000000,"agent":"a","state":"asleep"}',
    '{"id":"b19","type":"contact.ended","ts":1795300000000,"queue":"q","contact":"c","resolved":"yes"}',
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--hours", type=float, default=26)
    ap.add_argument("--gap-hours", type=float, default=0)
    ap.add_argument("--bad", action="store_true")
    a = ap.parse_args()
    g = Gen(a.seed, a.hours, a.gap_hours)
    g.run()
    lines = g.lines(a.bad)
    with open(a.out, "wb") as f:
        for line in lines:
            f.write(line.encode("utf-8", "surrogatepass") + b"\n")
        if a.bad:
            f.write(b'{"id":"utf","type":"contact.offered","ts":1795300000000,"queue":"\xff","contact":"c"}\n')


if __name__ == "__main__":
    main()
