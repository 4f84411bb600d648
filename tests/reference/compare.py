#!/usr/bin/env python3
"""Runs `$CCP_BIN replay FILE --json OUT --minutes OUT2 [-c CONFIG.yaml]` and
the reference model on the same file and compares every figure, and every
closed-minute entry. Prints each mismatch as
a path (queue/window/field: ccpulse vs reference) and exits 1 on any.

usage: compare.py [--gen "GEN_ARGS"] FILE.ndjson [CONFIG.json]
  --gen: first write FILE with gen_events.py GEN_ARGS --out FILE.
  CCP_BIN (environment) is the ccpulse binary.
  CONFIG.json holds the config keys nested as in YAML; the YAML handed to
  ccpulse is written from it, so both sides read the same settings.

Tolerances: counts and other integers exact; means (asa_ms, aht_ms,
complaint_resolution_ms) within 1 ms; ratios and score means within 1e-4;
percentiles within 1 % + 1 ms (a negative one anywhere from it to 0); updated_at (wall clock) ignored. A field on
one side only is a mismatch.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference_model  # noqa: E402

MEANS = {"asa_ms", "aht_ms", "complaint_resolution_ms"}
PCTS = {"wait_p50_ms", "wait_p90_ms", "wait_p99_ms"}
RATIOS = {"service_level", "abandon_rate", "fcr_rate", "promise_kept_rate", "csat_avg",
          "csat_satisfied_rate", "reliability_avg", "responsiveness_avg", "assurance_avg",
          "empathy_avg", "tangibles_avg"}
IGNORED = {"updated_at"}


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return (isinstance(v, (int, float))) and not isinstance(v, bool)


def close(field, ours, ref):
    if field in RATIOS:
        return is_num(ours) and abs(ours - ref) <= 1e-4
    if field in PCTS:
        if is_int(ref) and ref < 0:
            # A wait below 0 (answer stamped before its offer) falls in the
            # histogram's 0 bin; the exact maximum bounds it from above.
            return is_int(ours) and ref <= ours <= 0
        return is_int(ours) and abs(ours - ref) <= abs(ref) * 0.01 + 1
    if field in MEANS:
        return is_int(ours) and abs(ours - ref) <= 1
    return type(ours) is type(ref) and ours == ref


def diff(path, ours, ref, out):
    if isinstance(ref, dict) and isinstance(ours, dict):
        for k in sorted(set(ours) | set(ref)):
            if k in IGNORED:
                continue
            p = path + "/" + k if path else k
            if k not in ours:
                out.append("%s: absent in ccpulse (reference %s)" % (p, json.dumps(ref[k])[:200]))
            elif k not in ref:
                out.append("%s: ccpulse %s, absent in reference" % (p, json.dumps(ours[k])[:200]))
            else:
                diff(p, ours[k], ref[k], out)
        return
    field = path.rsplit("/", 1)[-1]
    if isinstance(ref, dict) or isinstance(ours, dict) or not close(field, ours, ref):
        out.append("%s: ccpulse %s vs reference %s" % (path, json.dumps(ours)[:200], json.dumps(ref)[:200]))


def yaml_scalar(v):
    return json.dumps(v)  # a JSON string or number is a YAML flow scalar


def to_yaml(v, indent=0):
    """The small subset our configs need: nested maps, lists of flat maps."""
    pad = " " * indent
    lines = []
    for k, x in v.items():
        if isinstance(x, dict):
            lines.append("%s%s:" % (pad, yaml_scalar(k)))
            lines.append(to_yaml(x, indent + 2))
        elif isinstance(x, list):
            lines.append("%s%s:" % (pad, yaml_scalar(k)))
            for item in x:
                lines.append("%s  - {%s}" % (pad, ", ".join(
                    "%s: %s" % (yaml_scalar(a), yaml_scalar(b)) for a, b in item.items())))
        else:
            lines.append("%s%s: %s" % (pad, yaml_scalar(k), yaml_scalar(x)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--gen")
    ap.add_argument("file")
    ap.add_argument("config", nargs="?")
    a = ap.parse_args()
    binary = os.environ.get("CCP_BIN")
    if not binary or not os.access(binary, os.X_OK):
        sys.exit("compare.py: CCP_BIN must name the ccpulse binary (got %r)" % binary)
    data = a.file
    if a.gen is not None:
        subprocess.run([sys.executable, os.path.join(HERE, "gen_events.py")] + shlex.split(a.gen)
                       + ["--out", data], check=True)
    cfg = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        mout = os.path.join(tmp, "minutes.ndjson")
        cmd = [binary, "replay", data, "--json", out, "--minutes", mout]
        if a.config:
            cfg = json.load(open(a.config))
            yml = os.path.join(tmp, "config.yaml")
            with open(yml, "w") as f:
                f.write(to_yaml(cfg) + "\n")
            cmd += ["-c", yml]
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if p.returncode != 0:
            sys.stderr.write(p.stderr.decode(errors="replace")[-4000:])
            sys.exit("compare.py: %s exited %d" % (" ".join(cmd), p.returncode))
        with open(out, "rb") as f:
            ours = json.loads(f.read().decode("utf-8"))
        with open(mout, "rb") as f:
            our_minutes = [json.loads(line) for line in f.read().decode("utf-8").splitlines()]
    ref_minutes = []
    ref = reference_model.run(data, cfg, ref_minutes)
    problems = []
    diff("", ours, ref, problems)
    # Minutes keyed by queue and start; the stream's order is the clock's.
    def keyed(entries):
        return {"%s@%d" % (m["queue"], m["window_start"]): m for m in entries}
    diff("minutes", keyed(our_minutes), keyed(ref_minutes), problems)
    for p in problems:
        print(p)
    nwin = len(ref["total"]) - 1 if ref["total"] else 0
    print("%s: %d queues x (%d windows + live) + total, %d closed minutes, now %s: %d mismatches"
          % (os.path.basename(data), len(ref["queues"]), nwin, len(ref_minutes), ref["now"],
             len(problems)))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
