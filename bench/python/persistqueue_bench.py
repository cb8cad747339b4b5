"""Workloads a/b/c of the persist-queue bench, run against Python persist-queue.

Driven by bench/adapters/python-persistqueue.mjs: argv[1] is a JSON task
{"kind": "sqlite"|"file", "workload": "a"|"b"|"c", "size": "120B"|"4KiB", "n": int,
 "capMs": float, "runs": int, "root": dir}; prints one JSON line: {"runs": [...]}.
Items are the same JSON objects as the Node side (built from bench/lib/items.mjs's
shapes, passed in as "template").
"""
import json
import shutil
import sys
import tempfile
import time

import persistqueue  # noqa: F401  (ImportError -> the adapter reports a skip)
from persistqueue import Queue, SQLiteQueue

CHECK = 16


def open_queue(kind, d):
    if kind == "sqlite":
        # auto_commit=True: each put/get is its own commit (like the Node rows).
        return SQLiteQueue(d, auto_commit=True, multithreading=False)
    # file Queue: tempdir on the same fs so its atomic renames work.
    return Queue(d, autosave=True, tempdir=d)


def item(template, seq):
    x = dict(template)
    x["seq"] = seq
    return x


def phase_over(t0, cap):
    return (time.perf_counter() - t0) * 1000 > cap


def put_then_get(q, kind, t, n, cap):
    t0 = time.perf_counter()
    done = 0
    while done < n:
        q.put(item(t, done))
        done += 1
        if done % CHECK == 1 and phase_over(t0, cap):
            break
    put_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = 0
    while got < done:
        q.get(block=False)
        if kind == "file":
            q.task_done()
        got += 1
        if got % CHECK == 1 and phase_over(t0, cap):
            break
    get_s = time.perf_counter() - t0
    return {"put": done / put_s, "get": got / get_s, "n": min(done, got), "capped": min(done, got) < n}


def interleaved(q, kind, t, n, cap):
    t0 = time.perf_counter()
    done = 0
    while done < n:
        q.put(item(t, done))
        q.get(block=False)
        if kind == "file":
            q.task_done()
        done += 1
        if done % CHECK == 1 and phase_over(t0, cap):
            break
    s = time.perf_counter() - t0
    return {"pair": done / s, "n": done, "capped": done < n}


def main():
    task = json.loads(sys.argv[1])
    fn = {"a": put_then_get, "b": interleaved}.get(task["workload"])
    if fn is None:
        print(json.dumps({"unsupported": "no putMany/getMany in Python persist-queue"}))
        return
    runs = []
    for _ in range(task["runs"]):
        d = tempfile.mkdtemp(prefix="py-", dir=task["root"])
        try:
            q = open_queue(task["kind"], d)
            runs.append(fn(q, task["kind"], task["template"], task["n"], task["capMs"]))
            del q
        finally:
            shutil.rmtree(d, ignore_errors=True)
    print(json.dumps({"runs": runs}))


if __name__ == "__main__":
    main()
