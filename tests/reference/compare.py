#!/usr/bin/env python3
"""Runs `ccpulse replay` and the reference model on one file and compares
every figure. Exit 1 on any mismatch, printing each as a path.

usage: compare.py CCPULSE_BIN FILE.ndjson [CONFIG_BASENAME]
  CONFIG_BASENAME: X means X.yaml for ccpulse and X.json for the model.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference_model  # noqa: E402

MEANS = {"asa_ms", "aht_ms", "complaint_resolution_ms"}
PCTS = {"wait_p50_ms", "wait_p90_ms", "wait_p99_ms"}


def close(field, ours, ref):
    if field in PCTS:
        return abs(ours - ref) <= abs(ref) * 0.01 + 1
    if field in MEANS:
        return abs(ours - ref) <= 1
    if isinstance(ref, float) or isinstance(ours, float):
        return abs(ours - ref) <= 1e-4
    return ours == ref


def diff(path, ours, ref, out):
    if isinstance(ref, dict) and isinstance(ours, dict):
        for k in sorted(set(ours) | set(ref)):
            if k == "updated_at":
                continue
            if k not in ours:
                out.append("%s/%s: missing in ccpulse (reference %r)" % (path, k, ref[k]))
            elif k not in ref:
                out.append("%s/%s: ccpulse has %r, absent in reference" % (path, k, ours[k]))
            else:
                diff(path + "/" + k, ours[k], ref[k], out)
        return
    field = path.rsplit("/", 1)[-1]
    if not close(field, ours, ref):
        out.append("%s: ccpulse %r vs reference %r" % (path, ours, ref))


def main():
    binary, data = sys.argv[1], sys.argv[2]
    base = sys.argv[3] if len(sys.argv) > 3 else None
    cfg = {}
    cmd = [binary, "replay", data]
    if base:
        cfg = json.load(open(base + ".json"))
        cmd += ["-c", base + ".yaml"]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        subprocess.run(cmd + ["--json", out], check=True, stdout=subprocess.DEVNULL)
        ours = json.load(open(out))
    ref = reference_model.run(data, cfg)
    problems = []
    diff("", ours, ref, problems)
    for p in problems[:200]:
        print(p)
    nq = len(ref["queues"])
    print("compared %d queues, %d windows each: %d mismatches" % (nq, len(ref["total"]) - 1, len(problems)))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
