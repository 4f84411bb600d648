#!/usr/bin/env python3
"""A deliberately naive reference model of ccpulse's contract.

Written only from shared/contract/{events,metrics,outputs}.md and the agreed
readings (notes/semantics.md), never from the C engine. It remembers every
counted fact as a plain tuple (queue, name, time, value) and, at the end,
computes each window's figures by filtering those facts by the window's
bucket range; percentiles by sorting. Slow and obviously right is the point.

usage: reference_model.py FILE.ndjson [--config CONFIG.json] > out.json

CONFIG.json holds the same keys as ccpulse's YAML config, nested the same
way (compare.py writes the YAML from it), e.g.
  {"timezone": "America/New_York", "short_abandon": "10s",
   "service_level": {"variant": "answered", "thresholds": {"voice": "30s"}},
   "queues": {"billing": {"service_level": {"voice": "15s"}}},
   "windows": [{"name": "30m", "length": "30m", "bucket": "1m"}],
   "open_horizon": "2h", "dedup": {"horizon": "3h"}}
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
DEFAULT_WINDOWS = [{"name": "5m", "length": "5m", "bucket": "10s"},
                   {"name": "15m", "length": "15m", "bucket": "10s"},
                   {"name": "1h", "length": "1h", "bucket": "10s"},
                   {"name": "24h", "length": "24h", "bucket": "5m"}]
DEFAULT_SL = {"voice": 20000, "chat": 60000, "sms": 300000, "social": 3600000,
              "email": 14400000, "video": 20000}
MAX_LINE_BYTES = 1 << 20
MAX_DEPTH = 64
INT64_MAX = (1 << 63) - 1

UNITS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}


def dur(s):
    """"30m" -> 1800000 (ms)."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", str(s))
    if not m:
        raise ValueError("bad duration %r" % (s,))
    return int(m.group(1)) * UNITS[m.group(2)]


class Bad(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------- validation

RFC = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def parse_time(v):
    """A time field: JSON integer ms >= 0 fitting int64, or RFC 3339."""
    if isinstance(v, bool):
        raise Bad("bad_field")
    if isinstance(v, int):
        if v < 0 or v > INT64_MAX:
            raise Bad("bad_field")
        return v
    if not isinstance(v, str):
        raise Bad("bad_field")
    m = RFC.fullmatch(v)
    if not m:
        raise Bad("bad_field")
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    if h > 23 or mi > 59 or s > 60:
        raise Bad("bad_field")
    try:
        day = datetime.date(y, mo, d)
    except ValueError:
        raise Bad("bad_field")
    frac = m.group(7)
    ms = int((frac[1:] + "00")[:3]) if frac else 0  # truncated, not rounded
    z = m.group(8)
    off_s = 0
    if z not in ("Z", "z"):
        oh, om = int(z[1:3]), int(z[4:6])
        if oh > 23 or om > 59:
            raise Bad("bad_field")
        off_s = (oh * 3600 + om * 60) * (1 if z[0] == "+" else -1)
    days = (day - datetime.date(1970, 1, 1)).days
    t = (days * 86400 + h * 3600 + mi * 60 + s - off_s) * 1000 + ms  # s == 60: next second
    if t < 0:
        raise Bad("bad_field")
    return t


def sid(v):
    if not isinstance(v, str) or not 1 <= len(v.encode("utf-8")) <= 128:
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
    if not isinstance(v, list) or len(v) > 256:
        raise Bad("bad_field")
    out = []
    for x in v:
        sid(x)
        if x not in out:  # duplicates count once
            out.append(x)
    return out


def field(o, k, required, check):
    v = o.get(k)  # null is absent
    if v is None:
        if required:
            raise Bad("missing_field")
        return None
    return check(v)


def depth(v):
    if isinstance(v, dict):
        return 1 + max([depth(x) for x in v.values()] + [0])
    if isinstance(v, list):
        return 1 + max([depth(x) for x in v] + [0])
    return 0


def has_lone_surrogate(v):
    if isinstance(v, str):
        return any(0xD800 <= ord(ch) <= 0xDFFF for ch in v)
    if isinstance(v, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(x) for k, x in v.items())
    if isinstance(v, list):
        return any(has_lone_surrogate(x) for x in v)
    return False


def reject_constant(name):
    raise Bad("bad_json")  # NaN, Infinity: not JSON


def validate(raw):
    """bytes of one line -> dict of the checked fields, or raises Bad."""
    if len(raw) > MAX_LINE_BYTES:
        raise Bad("bad_json")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Bad("bad_json")
    if text.startswith("\ufeff"):
        raise Bad("bad_json")
    try:
        o = json.loads(text, object_pairs_hook=dict, parse_constant=reject_constant)
    except (ValueError, RecursionError):
        raise Bad("bad_json")
    if not isinstance(o, dict) or depth(o) > MAX_DEPTH or has_lone_surrogate(o):
        raise Bad("bad_json")

    ev = {"id": field(o, "id", True, sid)}
    t = o.get("type")
    if t is None:
        raise Bad("missing_field")
    if not isinstance(t, str):
        raise Bad("bad_field")
    if t not in TYPES:
        raise Bad("unknown_type")
    ev["type"] = t
    ev["ts"] = field(o, "ts", True, parse_time)
    agent_ev = t == "agent.state"
    ev["queue"] = field(o, "queue", not agent_ev, sid)
    ev["contact"] = field(o, "contact", not agent_ev, sid)
    ev["channel"] = field(o, "channel", False, one_of(CHANNELS)) or "voice"
    ev["agent"] = field(o, "agent", agent_ev, sid)
    if t == "contact.offered":
        ev["transfer_from"] = field(o, "transfer_from", False, sid)
    elif t == "contact.transferred":
        field(o, "to_queue", False, sid)
        field(o, "to_agent", False, sid)
    elif t == "contact.ended":
        ev["resolved"] = bool(field(o, "resolved", False, boolean))
    elif t == "promise.made":
        ev["promise"] = field(o, "promise", True, sid)
        ev["due"] = field(o, "due", True, parse_time)
        field(o, "kind", False, one_of(KINDS))
    elif t in ("promise.kept", "promise.cancelled"):
        ev["promise"] = field(o, "promise", True, sid)
    elif t == "survey.submitted":
        ev["csat"] = field(o, "csat", True, score)
        for d in DIMS:
            ev[d] = field(o, d, False, score)
    elif t in ("complaint.opened", "complaint.resolved"):
        ev["complaint"] = field(o, "complaint", True, sid)
    elif t == "agent.state":
        ev["state"] = field(o, "state", True, one_of(STATES))
        ev["queues"] = field(o, "queues", False, queue_list) or []
    return ev


# --------------------------------------------------------------------- model

class Model:
    def __init__(self, cfg):
        self.windows = [(w["name"], dur(w["length"]), dur(w["bucket"]))
                        for w in cfg.get("windows", DEFAULT_WINDOWS)]
        self.longest = max(w[1] for w in self.windows)
        self.tz = zoneinfo.ZoneInfo(cfg.get("timezone", "UTC"))
        self.short = dur(cfg.get("short_abandon", "5s"))
        sl = cfg.get("service_level", {})
        self.variant = sl.get("variant", "answered_abandoned")
        self.sl = dict(DEFAULT_SL)
        for ch, v in sl.get("thresholds", {}).items():
            self.sl[ch] = dur(v)
        self.sl_queue = {}
        for q, qc in cfg.get("queues", {}).items():
            for ch, v in qc.get("service_level", {}).items():
                self.sl_queue[(q, ch)] = dur(v)
        self.horizon = dur(cfg.get("open_horizon", "7d"))
        self.dedup_horizon = dur(cfg.get("dedup", {}).get("horizon", "24h"))

        self.now = None
        self.clock_before = None  # the clock when the current event arrived
        self.ids = {}         # id -> clock when accepted
        self.facts = []       # (queue, name, time, value, clock when its event arrived)
        self.queues = set()
        self.contacts = {}    # (q, contact) -> {offer, channel, tin, answer}
        self.promises = {}    # (q, promise) -> {made, due, settled, at, came_due}
        self.complaints = {}  # (q, complaint) -> opened ts
        self.agents = {}      # agent -> (state, [queues])
        self.counters = {"late_events": 0, "duplicates": 0, "expired": 0, "unmatched": 0}
        self.errors = {r: 0 for r in REASONS}

    def fact(self, q, name, t, v=1):
        self.facts.append((q, name, t, v, self.clock_before))

    def threshold(self, q, ch):
        return self.sl_queue.get((q, ch), self.sl[ch])

    # A held record's start: offer ts, else answer ts; made ts; opened ts.
    def starts(self):
        for k, r in self.contacts.items():
            yield ("contact", k, r["offer"] if "offer" in r else r["answer"])
        for k, p in self.promises.items():
            yield ("promise", k, p["made"])
        for k, opened in self.complaints.items():
            yield ("complaint", k, opened)

    def come_due(self, key):
        p = self.promises[key]
        p["came_due"] = True
        if not (p["settled"] == "cancelled" and p["at"] < p["due"]):
            self.fact(key[0], "promises_due", p["due"])
            if p["settled"] == "kept" and p["at"] <= p["due"]:
                self.fact(key[0], "promises_kept_on_time", p["due"])
            else:
                self.fact(key[0], "promises_broken", p["due"])
        if p["settled"]:
            del self.promises[key]  # released: kept or cancelled, and due <= now

    def expire(self, kind, key):
        table = {"contact": self.contacts, "promise": self.promises, "complaint": self.complaints}[kind]
        del table[key]
        self.counters["expired"] += 1

    def expire_all(self, now):
        """Drop every held record that began more than open_horizon ago."""
        for kind, key, start in list(self.starts()):
            if now - start > self.horizon:
                self.expire(kind, key)

    def come_due_all(self, now):
        for key in sorted(k for k, p in self.promises.items() if not p["came_due"] and p["due"] <= now):
            self.come_due(key)

    def accept(self, ev):
        before = self.now
        self.clock_before = before
        ts = ev["ts"]
        clock = ts if before is None else max(before, ts)
        i = ev["id"]
        # Dedup comes before the clock moves: an id is forgotten once the
        # clock (before this event) is more than the horizon past the clock
        # its first acceptance left.
        if i in self.ids and before - self.ids[i] <= self.dedup_horizon:
            self.counters["duplicates"] += 1
            return
        self.ids[i] = clock  # late events' ids are remembered too
        if before is not None and ts < before - self.longest:
            self.counters["late_events"] += 1
            return
        # The agreed order: the clock moves (held records past the open
        # horizon go), then the event, then promises due by now come due
        # (so one kept at ts == due is on time, one cancelled at due is due,
        # and a promise due before this event is still held while it applies).
        self.now = clock
        self.expire_all(self.now)
        self.apply(ev)
        self.come_due_all(self.now)

    def apply(self, ev):
        t, ts = ev["type"], ev["ts"]
        if t == "agent.state":
            self.queues.update(ev["queues"])
            self.agents[ev["agent"]] = (ev["state"], ev["queues"])
            return
        q = ev["queue"]
        self.queues.add(q)
        if t.startswith("contact."):
            self.apply_contact(q, t, ts, ev)
        elif t.startswith("promise."):
            self.apply_promise(q, t, ts, ev)
        elif t == "survey.submitted":
            self.fact(q, "csat", ts, ev["csat"])
            for d in DIMS:
                if ev[d] is not None:
                    self.fact(q, d, ts, ev[d])
        elif t == "complaint.opened":
            self.fact(q, "complaints_opened", ts)
            self.complaints[(q, ev["complaint"])] = ts  # a second opening replaces
        elif t == "complaint.resolved":
            self.fact(q, "complaints_resolved", ts)
            opened = self.complaints.pop((q, ev["complaint"]), None)
            if opened is not None:
                self.fact(q, "complaint_resolution", ts, ts - opened)

    def apply_contact(self, q, t, ts, ev):
        key = (q, ev["contact"])
        rec = self.contacts.get(key)
        has_offer = rec is not None and "offer" in rec
        if t == "contact.offered":
            self.fact(q, "offered", ts)
            if ev["transfer_from"] is not None:
                self.fact(q, "transferred_in", ts)
            # A new offer starts a new wait: the held answer goes.
            self.contacts[key] = {"offer": ts, "channel": ev["channel"],
                                  "tin": ev["transfer_from"] is not None}
        elif t == "contact.answered":
            self.fact(q, "answered", ts)
            if has_offer:
                wait = ts - rec["offer"]
                self.fact(q, "wait", ts, wait)
                if wait <= self.threshold(q, rec["channel"]):
                    self.fact(q, "answered_in_sl", ts)
            else:
                self.counters["unmatched"] += 1
            if rec is None:
                rec = self.contacts[key] = {}
            rec["answer"] = ts
        elif t == "contact.abandoned":
            if has_offer:
                short = ts - rec["offer"] < self.short
                self.fact(q, "abandoned_short" if short else "abandoned", ts)
            else:
                self.counters["unmatched"] += 1
                self.fact(q, "abandoned", ts)
            self.contacts.pop(key, None)
        elif t == "contact.transferred":
            self.fact(q, "transferred_out", ts)
            self.contacts.pop(key, None)
        elif t == "contact.ended":
            self.fact(q, "ended", ts)
            if ev["resolved"]:
                self.fact(q, "resolved", ts)
                if not (has_offer and rec["tin"]):
                    self.fact(q, "fcr", ts)
            if rec is not None and "answer" in rec:
                self.fact(q, "handle", ts, ts - rec["answer"])
            self.contacts.pop(key, None)

    def apply_promise(self, q, t, ts, ev):
        key = (q, ev["promise"])
        p = self.promises.get(key)
        if t == "promise.made":
            if p is not None:
                self.counters["unmatched"] += 1  # second made: ignored
                return
            self.fact(q, "promises_made", ts)
            self.promises[key] = {"made": ts, "due": ev["due"], "settled": None, "at": None,
                                  "came_due": False}
            return
        if p is None:
            self.counters["unmatched"] += 1
            return
        if p["settled"]:
            return  # only the first kept/cancelled counts
        p["settled"] = "kept" if t == "promise.kept" else "cancelled"
        p["at"] = ts
        if t == "promise.kept" and ts > p["due"]:
            self.fact(q, "promises_kept_late", ts)
        if p["came_due"]:
            del self.promises[key]  # already due: released now

    # ------------------------------------------------------------ figures

    def figures(self, queues, lo, hi, facts=None):
        fs = [f for f in (self.facts if facts is None else facts) if f[0] in queues and lo <= f[2] < hi]

        def count(name):
            return sum(1 for f in fs if f[1] == name)

        def values(name):
            return [f[3] for f in fs if f[1] == name]

        out = {}
        for name in ["offered", "answered", "abandoned", "abandoned_short", "answered_in_sl"]:
            out[name] = count(name)
        answered, abandoned = out["answered"], out["abandoned"]
        den = {"answered_abandoned": answered + abandoned,
               "answered": answered,
               "offered": out["offered"],
               "with_short_abandons": answered + abandoned + out["abandoned_short"]}[self.variant]
        if den:
            out["service_level"] = out["answered_in_sl"] / den
        if answered + abandoned:
            out["abandon_rate"] = abandoned / (answered + abandoned)
        waits = values("wait")
        if waits:
            out["asa_ms"] = round_half_away(sum(waits) / len(waits))
            ranked = sorted(waits)  # nearest rank of the waits themselves
            for p in (50, 90, 99):
                out["wait_p%d_ms" % p] = ranked[math.ceil(p * len(ranked) / 100) - 1]
            out["max_wait_ms"] = max(waits)
        handle = values("handle")
        if handle:
            out["aht_ms"] = round_half_away(sum(handle) / len(handle))
        for name in ["transferred_out", "transferred_in", "ended", "resolved"]:
            out[name] = count(name)
        if out["ended"]:
            out["fcr_rate"] = count("fcr") / out["ended"]
        for name in ["promises_made", "promises_due", "promises_kept_on_time", "promises_broken",
                     "promises_kept_late"]:
            out[name] = count(name)
        if out["promises_due"]:
            out["promise_kept_rate"] = out["promises_kept_on_time"] / out["promises_due"]
        csat = values("csat")
        out["csat_n"] = len(csat)
        if csat:
            out["csat_avg"] = sum(csat) / len(csat)
            out["csat_satisfied_rate"] = sum(1 for c in csat if c >= 4) / len(csat)
        for d in DIMS:
            v = values(d)
            if v:
                out[d + "_avg"] = sum(v) / len(v)
        out["complaints_opened"] = count("complaints_opened")
        out["complaints_resolved"] = count("complaints_resolved")
        res = values("complaint_resolution")
        if res:
            out["complaint_resolution_ms"] = round_half_away(sum(res) / len(res))
        out["window_start"] = lo
        out["window_end"] = hi
        return out

    def today_bounds(self):
        day = datetime.datetime.fromtimestamp(self.now / 1000, tz=self.tz).date()
        nxt = day + datetime.timedelta(days=1)
        start = datetime.datetime(day.year, day.month, day.day, tzinfo=self.tz)
        end = datetime.datetime(nxt.year, nxt.month, nxt.day, tzinfo=self.tz)
        return int(start.timestamp()) * 1000, int(end.timestamp()) * 1000

    def view(self, queues):
        v = {}
        for name, length, g in self.windows:
            newest = self.now // g  # the bucket holding now
            lo = (newest - length // g + 1) * g
            v[name] = self.figures(queues, lo, (newest + 1) * g)
        lo, hi = self.today_bounds()
        v["today"] = self.figures(queues, lo, hi)
        return v

    def live(self, q):
        offers = [r["offer"] for (qq, _), r in self.contacts.items()
                  if qq == q and "offer" in r and "answer" not in r]
        out = {"waiting": len(offers),
               "longest_wait_ms": self.now - min(offers) if offers else 0}
        for st in ["available", "busy", "wrap_up", "away"]:
            out["agents_" + st] = sum(1 for s, qs in self.agents.values() if s == st and q in qs)
        open_ = [p for (qq, _), p in self.promises.items() if qq == q and not p["settled"]]
        out["promises_open"] = sum(1 for p in open_ if p["due"] > self.now)
        out["promises_overdue"] = sum(1 for p in open_ if p["due"] <= self.now)
        out["complaints_open"] = sum(1 for (qq, _) in self.complaints if qq == q)
        return out

    def minutes(self):
        """The closed-minute entries: for each minute the clock has left, each
        queue's figures from what was known when the clock left it (a fact
        counts if its event arrived while the clock was still before the
        minute's end); minutes with nothing in them are not written."""
        if self.now is None:
            return []
        current = self.now // MINUTE
        by_minute = {}
        for f in self.facts:
            m = f[2] // MINUTE
            if m < current and (f[4] is None or f[4] < (m + 1) * MINUTE):
                by_minute.setdefault((m, f[0]), []).append(f)
        out = []
        for (m, q), fs in sorted(by_minute.items()):
            entry = {"queue": q}
            entry.update(self.figures({q}, m * MINUTE, (m + 1) * MINUTE, fs))
            out.append(entry)
        return out

    def result(self):
        res = {"now": self.now, "queues": {}, "total": {}}
        if self.now is not None:
            for q in sorted(self.queues):
                res["queues"][q] = self.view({q})
                res["queues"][q]["live"] = self.live(q)
            res["total"] = self.view(self.queues)
            lives = [res["queues"][q]["live"] for q in self.queues]
            tl = {k: sum(lv[k] for lv in lives)
                  for k in ["waiting", "promises_open", "promises_overdue", "complaints_open"]}
            tl["longest_wait_ms"] = max([lv["longest_wait_ms"] for lv in lives] + [0])
            for st in ["available", "busy", "wrap_up", "away"]:
                tl["agents_" + st] = sum(1 for s, qs in self.agents.values() if s == st and qs)
            res["total"]["live"] = tl
        res.update(self.counters)
        res["errors"] = dict(self.errors)
        return res


MINUTE = 60000


def round_half_away(x):
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def run_bytes(data, cfg, minutes=None):
    m = Model(cfg)
    for raw in data.split(b"\n"):
        if raw.strip(b" \t\r") == b"":
            continue  # blank (empty or whitespace-only) line
        try:
            ev = validate(raw)
        except Bad as b:
            m.errors[b.reason] += 1
            continue
        m.accept(ev)
    if minutes is not None:
        minutes.extend(m.minutes())
    return m.result()


def run(path, cfg, minutes=None):
    """The replay JSON; with a list `minutes`, also the closed-minute
    entries appended to it."""
    with open(path, "rb") as f:
        return run_bytes(f.read(), cfg, minutes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--config", help="JSON with the YAML config's keys")
    a = ap.parse_args()
    cfg = json.load(open(a.config)) if a.config else {}
    json.dump(run(a.file, cfg), sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
