#!/usr/bin/env python3
"""A deliberately naive reference model of ccpulse's contract.

Written from shared/contract/*.md (and the agreed readings in the README),
never from the C engine: it keeps every accepted fact in plain lists and
computes each window figure at the end by filtering facts by bucket range,
percentiles by sorting. Slow and obviously right is the point.

usage: reference_model.py FILE.ndjson [--config CONFIG.json] > out.json
"""
import argparse
import datetime
import json
import math
import re
import sys
import zoneinfo

TYPES = ["contact.offered", "contact.answered", "contact.abandoned", "contact.transferred",
         "contact.ended", "promise.made", "promise.kept", "promise.cancelled",
         "survey.submitted", "complaint.opened", "complaint.resolved", "agent.state"]
CHANNELS = ["voice", "chat", "email", "sms", "social", "video"]
STATES = ["available", "busy", "wrap_up", "away", "offline"]
KINDS = ["callback", "follow_up", "resolution", "other"]
DIMS = ["reliability", "responsiveness", "assurance", "empathy", "tangibles"]
REASONS = ["bad_json", "missing_field", "unknown_type", "bad_field", "future_ts"]

UNITS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}


def dur(s):
    if isinstance(s, int):
        return s
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", s)
    return int(m.group(1)) * UNITS[m.group(2) or "ms"]


class Bad(Exception):
    def __init__(self, reason):
        self.reason = reason


RFC = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def parse_time(v):
    if isinstance(v, bool):
        raise Bad("bad_field")
    if isinstance(v, int):
        if v < 0:
            raise Bad("bad_field")
        return v
    if isinstance(v, str):
        m = RFC.fullmatch(v)
        if not m:
            raise Bad("bad_field")
        y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
        if h > 23 or mi > 59 or s > 60:
            raise Bad("bad_field")
        try:
            base = datetime.datetime(y, mo, d, tzinfo=datetime.timezone.utc)
        except ValueError:
            raise Bad("bad_field")
        frac = m.group(7)
        ms = int((frac[1:] + "00")[:3]) if frac else 0
        off = 0
        z = m.group(8)
        if z not in ("Z", "z"):
            oh, om = int(z[1:3]), int(z[4:6])
            if oh > 23 or om > 59:
                raise Bad("bad_field")
            off = (oh * 60 + om) * 60 * (1 if z[0] == "+" else -1)
        t = int(base.timestamp()) * 1000 + (h * 3600 + mi * 60 + s - off) * 1000 + ms
        if t < 0:
            raise Bad("bad_field")
        return t
    raise Bad("bad_field")


def get(o, k, required, check):
    v = o.get(k)
    if v is None:
        if required:
            raise Bad("missing_field")
        return None
    return check(v)


def sid(v):
    if not isinstance(v, str) or not (1 <= len(v.encode("utf-8")) <= 128):
        raise Bad("bad_field")
    return v


def one_of(options):
    def check(v):
        if not isinstance(v, str) or v not in options:
            raise Bad("bad_field")
        return v
    return check


def score(v):
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5:
        raise Bad("bad_field")
    return v


def boolean(v):
    if not isinstance(v, bool):
        raise Bad("bad_field")
    return v


def queue_list(v):
    if not isinstance(v, list):
        raise Bad("bad_field")
    qs = [sid(x) for x in v]
    if len(set(qs)) > 256:
        raise Bad("bad_field")
    return qs


def no_dup_pairs(pairs):
    return dict(pairs)  # last key wins


def validate(raw):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Bad("bad_json")
    if text.startswith("\ufeff"):
        raise Bad("bad_json")
    try:
        o = json.loads(text, object_pairs_hook=no_dup_pairs,
                       parse_constant=lambda c: (_ for _ in ()).throw(Bad("bad_json")))
    except (ValueError, RecursionError):
        raise Bad("bad_json")
    if not isinstance(o, dict):
        raise Bad("bad_json")
    try:  # lone surrogate escapes are not text
        json.dumps(o, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise Bad("bad_json")
    ev = {}
    ev["id"] = get(o, "id", True, sid)
    t = o.get("type")
    if t is None:
        raise Bad("missing_field")
    if not isinstance(t, str):
        raise Bad("bad_field")
    if t not in TYPES:
        raise Bad("unknown_type")
    ev["type"] = t
    ev["ts"] = get(o, "ts", True, parse_time)
    agent_ev = t == "agent.state"
    ev["queue"] = get(o, "queue", not agent_ev, sid)
    ev["contact"] = get(o, "contact", not agent_ev, sid)
    ev["channel"] = get(o, "channel", False, one_of(CHANNELS)) or "voice"
    ev["agent"] = get(o, "agent", agent_ev, sid)
    if t == "contact.offered":
        ev["transfer_from"] = get(o, "transfer_from", False, sid)
    elif t == "contact.transferred":
        get(o, "to_queue", False, sid)
        get(o, "to_agent", False, sid)
    elif t == "contact.ended":
        ev["resolved"] = get(o, "resolved", False, boolean) or False
    elif t == "promise.made":
        ev["promise"] = get(o, "promise", True, sid)
        ev["due"] = get(o, "due", True, parse_time)
        get(o, "kind", False, one_of(KINDS))
    elif t in ("promise.kept", "promise.cancelled"):
        ev["promise"] = get(o, "promise", True, sid)
    elif t == "survey.submitted":
        ev["csat"] = get(o, "csat", True, score)
        for d in DIMS:
            ev[d] = get(o, d, False, score)
    elif t in ("complaint.opened", "complaint.resolved"):
        ev["complaint"] = get(o, "complaint", True, sid)
    elif t == "agent.state":
        ev["state"] = get(o, "state", True, one_of(STATES))
        ev["queues"] = get(o, "queues", False, queue_list) or []
    return ev


class Model:
    def __init__(self, cfg):
        self.windows = [(w["name"], dur(w["length"]), dur(w["bucket"])) for w in cfg.get(
            "windows", [{"name": "5m", "length": "5m", "bucket": "10s"},
                        {"name": "15m", "length": "15m", "bucket": "10s"},
                        {"name": "1h", "length": "1h", "bucket": "10s"},
                        {"name": "24h", "length": "24h", "bucket": "5m"}])]
        self.L = max(w[1] for w in self.windows)
        self.tz = zoneinfo.ZoneInfo(cfg.get("timezone", "UTC"))
        self.short = dur(cfg.get("short_abandon", "5s"))
        self.variant = cfg.get("service_level.variant", "answered_abandoned")
        self.thr = {"voice": 20000, "chat": 60000, "sms": 300000, "social": 3600000,
                    "email": 14400000, "video": 20000}
        for ch in CHANNELS:
            if "service_level.thresholds." + ch in cfg:
                self.thr[ch] = dur(cfg["service_level.thresholds." + ch])
        self.qthr = {}
        for k, v in cfg.items():
            m = re.fullmatch(r"queues\.(.+)\.service_level\.(\w+)", k)
            if m:
                self.qthr[(m.group(1), m.group(2))] = dur(v)
        self.horizon = dur(cfg.get("open_horizon", "7d"))
        self.dedup_h = dur(cfg.get("dedup.horizon", "24h"))
        self.now = None
        self.seen_ids = {}  # id -> clock at acceptance
        self.facts = []  # (queue, name, ts, value)
        self.queues = []
        self.contacts = {}  # (q, c) -> dict
        self.promises = {}  # (q, p) -> dict
        self.complaints = {}  # (q, k) -> dict
        self.agents = {}  # agent -> (state, [queues])
        self.c = {"late_events": 0, "duplicates": 0, "expired": 0, "unmatched": 0}
        self.errors = {r: 0 for r in REASONS}

    def seen_queue(self, q):
        if q not in self.queues:
            self.queues.append(q)

    def fact(self, q, name, ts, v=1):
        self.facts.append((q, name, ts, v))

    def threshold(self, q, ch):
        return self.qthr.get((q, ch), self.thr[ch])

    def advance(self, now, before_event):
        # Promises coming due, in deadline order, then expiry. Before the
        # event only deadlines earlier than its time: one kept exactly at
        # its deadline is on time.
        for key, p in sorted(self.promises.items(), key=lambda kv: kv[1]["due"]):
            if not p["came_due"] and (p["due"] < now if before_event else p["due"] <= now):
                p["came_due"] = True
                q = key[0]
                if not (p["state"] == "cancelled" and p["at"] < p["due"]):
                    self.fact(q, "promises_due", p["due"])
                    if p["state"] == "kept" and p["at"] <= p["due"]:
                        self.fact(q, "promises_kept_on_time", p["due"])
                    else:
                        self.fact(q, "promises_broken", p["due"])
        for key in [k for k, p in self.promises.items() if p["came_due"] and p["state"] != "open"]:
            del self.promises[key]
        if not before_event:
            return
        for table, start in ((self.contacts, "start"), (self.promises, "made"), (self.complaints, "opened")):
            for key in [k for k, r in table.items() if now - r[start] > self.horizon]:
                del table[key]
                self.c["expired"] += 1

    def apply(self, ev):
        before = self.now
        after = ev["ts"] if before is None else max(before, ev["ts"])
        if ev["id"] in self.seen_ids and after - self.seen_ids[ev["id"]] <= self.dedup_h:
            self.c["duplicates"] += 1
            return
        self.seen_ids[ev["id"]] = after
        if before is not None and ev["ts"] < before - self.L:
            self.c["late_events"] += 1
            return
        self.now = after
        self.advance(self.now, True)
        t, ts = ev["type"], ev["ts"]
        if t == "agent.state":
            qs = []
            for q in ev["queues"]:
                self.seen_queue(q)
                if q not in qs:
                    qs.append(q)
            self.agents[ev["agent"]] = (ev["state"], qs)
            self.advance(self.now, False)
            return
        q = ev["queue"]
        self.seen_queue(q)
        if t.startswith("contact."):
            key = (q, ev["contact"])
            rec = self.contacts.get(key)
            if t == "contact.offered":
                self.fact(q, "offered", ts)
                if ev.get("transfer_from"):
                    self.fact(q, "transferred_in", ts)
                rec = self.contacts.setdefault(key, {})
                rec.update(offer=ts, channel=ev["channel"], tin=bool(ev.get("transfer_from")), start=ts)
                rec.pop("answer", None)
            elif t == "contact.answered":
                self.fact(q, "answered", ts)
                if rec and "offer" in rec:
                    wait = ts - rec["offer"]
                    self.fact(q, "wait", ts, wait)
                    if wait <= self.threshold(q, rec["channel"]):
                        self.fact(q, "answered_in_sl", ts)
                else:
                    self.c["unmatched"] += 1
                if rec is None:
                    rec = self.contacts[key] = {"start": ts}
                rec["answer"] = ts
            elif t == "contact.abandoned":
                if rec and "offer" in rec:
                    self.fact(q, "abandoned_short" if ts - rec["offer"] < self.short else "abandoned", ts)
                else:
                    self.c["unmatched"] += 1
                    self.fact(q, "abandoned", ts)
                self.contacts.pop(key, None)
            elif t == "contact.transferred":
                self.fact(q, "transferred_out", ts)
                self.contacts.pop(key, None)
            elif t == "contact.ended":
                self.fact(q, "ended", ts)
                if ev["resolved"]:
                    self.fact(q, "resolved", ts)
                    if not (rec and "offer" in rec and rec["tin"]):
                        self.fact(q, "fcr", ts)
                if rec and "answer" in rec:
                    self.fact(q, "aht", ts, ts - rec["answer"])
                self.contacts.pop(key, None)
        elif t.startswith("promise."):
            key = (q, ev["promise"])
            p = self.promises.get(key)
            if t == "promise.made":
                if p:
                    self.c["unmatched"] += 1
                else:
                    self.fact(q, "promises_made", ts)
                    self.promises[key] = {"made": ts, "due": ev["due"], "state": "open", "at": None,
                                          "came_due": False}
            elif not p:
                self.c["unmatched"] += 1
            elif p["state"] == "open":
                p["state"] = "kept" if t == "promise.kept" else "cancelled"
                p["at"] = ts
                if t == "promise.kept" and ts > p["due"]:
                    self.fact(q, "promises_kept_late", ts)
        elif t == "survey.submitted":
            self.fact(q, "csat", ts, ev["csat"])
            for d in DIMS:
                if ev[d] is not None:
                    self.fact(q, d, ts, ev[d])
        elif t == "complaint.opened":
            self.fact(q, "complaints_opened", ts)
            self.complaints[(q, ev["complaint"])] = {"opened": ts}
        elif t == "complaint.resolved":
            self.fact(q, "complaints_resolved", ts)
            rec = self.complaints.pop((q, ev["complaint"]), None)
            if rec:
                self.fact(q, "complaint_res", ts, ts - rec["opened"])
        self.advance(self.now, False)

    def figures(self, queues, lo, hi, end_bound):
        fs = [f for f in self.facts if f[0] in queues and lo <= f[2] < hi]

        def n(name):
            return sum(1 for f in fs if f[1] == name)

        def vals(name):
            return [f[3] for f in fs if f[1] == name]

        out = {}
        for name in ["offered", "answered", "abandoned", "abandoned_short", "answered_in_sl"]:
            out[name] = n(name)
        den = {"answered_abandoned": out["answered"] + out["abandoned"],
               "answered": out["answered"], "offered": out["offered"],
               "with_short_abandons": out["answered"] + out["abandoned"] + out["abandoned_short"]}[self.variant]
        if den:
            out["service_level"] = out["answered_in_sl"] / den
        if out["answered"] + out["abandoned"]:
            out["abandon_rate"] = out["abandoned"] / (out["answered"] + out["abandoned"])
        waits = sorted(vals("wait"))
        if waits:
            out["asa_ms"] = round_half_away(sum(waits) / len(waits))
            for p in (50, 90, 99):
                out["wait_p%d_ms" % p] = waits[math.ceil(p * len(waits) / 100) - 1]
            out["max_wait_ms"] = waits[-1]
        aht = vals("aht")
        if aht:
            out["aht_ms"] = round_half_away(sum(aht) / len(aht))
        for name in ["transferred_out", "transferred_in", "ended", "resolved"]:
            out[name] = n(name)
        if out["ended"]:
            out["fcr_rate"] = n("fcr") / out["ended"]
        for name in ["promises_made", "promises_due", "promises_kept_on_time", "promises_broken",
                     "promises_kept_late"]:
            out[name] = n(name)
        if out["promises_due"]:
            out["promise_kept_rate"] = out["promises_kept_on_time"] / out["promises_due"]
        cs = vals("csat")
        out["csat_n"] = len(cs)
        if cs:
            out["csat_avg"] = sum(cs) / len(cs)
            out["csat_satisfied_rate"] = sum(1 for c in cs if c >= 4) / len(cs)
        for d in DIMS:
            v = vals(d)
            if v:
                out[d + "_avg"] = sum(v) / len(v)
        out["complaints_opened"] = n("complaints_opened")
        out["complaints_resolved"] = n("complaints_resolved")
        cr = vals("complaint_res")
        if cr:
            out["complaint_resolution_ms"] = round_half_away(sum(cr) / len(cr))
        out["window_start"] = lo
        out["window_end"] = end_bound
        return out

    def day_bounds(self, t):
        d = datetime.datetime.fromtimestamp(t / 1000, tz=self.tz).date()
        start = datetime.datetime(d.year, d.month, d.day, tzinfo=self.tz)
        nxt = d + datetime.timedelta(days=1)
        end = datetime.datetime(nxt.year, nxt.month, nxt.day, tzinfo=self.tz)
        return int(start.timestamp() * 1000), int(end.timestamp() * 1000)

    def view(self, queues):
        v = {}
        for name, length, g in self.windows:
            nb = self.now // g
            lo = (nb - length // g + 1) * g
            v[name] = self.figures(queues, lo, (nb + 1) * g, (nb + 1) * g)
        s, e = self.day_bounds(self.now)
        v["today"] = self.figures(queues, s, e, e)
        return v

    def live(self, q):
        waiting = [r["offer"] for (qq, _), r in self.contacts.items()
                   if qq == q and "offer" in r and "answer" not in r]
        out = {"waiting": len(waiting), "longest_wait_ms": self.now - min(waiting) if waiting else 0}
        for st in ["available", "busy", "wrap_up", "away"]:
            out["agents_" + st] = sum(1 for s, qs in self.agents.values() if s == st and q in qs)
        ps = [p for (qq, _), p in self.promises.items() if qq == q and p["state"] == "open"]
        out["promises_open"] = sum(1 for p in ps if p["due"] > self.now)
        out["promises_overdue"] = sum(1 for p in ps if p["due"] <= self.now)
        out["complaints_open"] = sum(1 for (qq, _) in self.complaints if qq == q)
        return out

    def result(self):
        res = {"now": self.now, "queues": {}, "total": {}}
        for q in sorted(self.queues, key=lambda s: s.encode("utf-8")):
            res["queues"][q] = self.view({q})
            res["queues"][q]["live"] = self.live(q)
        res["total"] = self.view(set(self.queues))
        lives = [res["queues"][q]["live"] for q in self.queues]
        tl = {k: sum(lv[k] for lv in lives) for k in ["waiting", "promises_open", "promises_overdue",
                                                        "complaints_open"]}
        tl["longest_wait_ms"] = max([lv["longest_wait_ms"] for lv in lives] + [0])
        for st in ["available", "busy", "wrap_up", "away"]:
            tl["agents_" + st] = sum(1 for s, qs in self.agents.values() if s == st and qs)
        res["total"]["live"] = tl
        res.update(self.c)
        res["errors"] = self.errors
        return res


def round_half_away(x):
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def run(path, cfg):
    m = Model(cfg)
    with open(path, "rb") as f:
        for raw in f.read().split(b"\n"):
            if not raw.strip(b" \t\r"):
                continue
            try:
                ev = validate(raw)
            except Bad as b:
                m.errors[b.reason] += 1
                continue
            m.apply(ev)
    return m.result()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--config", help="flat JSON of config keys (dotted) plus windows")
    a = ap.parse_args()
    cfg = json.load(open(a.config)) if a.config else {}
    json.dump(run(a.file, cfg), sys.stdout)


if __name__ == "__main__":
    main()
