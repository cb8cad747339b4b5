"""Does what Python persist-queue 1.x does to a SQLite queue file, with its own SQL statements and JSON serializer,
for the interop tests (persist-queue itself cannot be installed here: no PyPI). Usage:

    python3 pq_sql.py FILE TABLE put JSON        -> prints the new _id
    python3 pq_sql.py FILE TABLE put_ack JSON    -> ack table insert (status 0)
    python3 pq_sql.py FILE TABLE put_unique JSON -> json.dumps(sort_keys=True), IntegrityError ignored
    python3 pq_sql.py FILE TABLE get             -> SQLiteQueue get (FIFO, auto_commit): prints the item as JSON
    python3 pq_sql.py FILE TABLE get_ack         -> SQLiteAckQueue get: marks status 2, prints [id, item]
    python3 pq_sql.py FILE TABLE rows            -> prints [[_id, typeof(data), typeof(timestamp), item], ...]
"""
import json
import sqlite3
import sys
import time

path, table, op = sys.argv[1], sys.argv[2], sys.argv[3]
conn = sqlite3.connect(path, timeout=10)
conn.execute('PRAGMA journal_mode=WAL')


def dumps(value, sort_keys=False):
    return json.dumps(value, sort_keys=sort_keys).encode('utf-8')


if op in ('put', 'put_ack', 'put_unique'):
    value = json.loads(sys.argv[4])
    with conn:
        if op == 'put':
            cur = conn.execute('INSERT INTO {} (data, timestamp) VALUES (?, ?)'.format(table), (dumps(value), time.time()))
        elif op == 'put_ack':
            cur = conn.execute('INSERT INTO {} (data, timestamp, status) VALUES (?, ?, 0)'.format(table), (dumps(value), time.time()))
        else:
            try:
                cur = conn.execute('INSERT INTO {} (data, timestamp) VALUES (?, ?)'.format(table), (dumps(value, True), time.time()))
            except sqlite3.IntegrityError:
                print('null')
                sys.exit(0)
    print(cur.lastrowid)
elif op == 'get':
    with conn:
        row = conn.execute('SELECT _id, data FROM {} ORDER BY _id ASC LIMIT 1'.format(table)).fetchone()
        conn.execute('DELETE FROM {} WHERE _id = ?'.format(table), (row[0],))
    print(json.dumps(json.loads(row[1])))
elif op == 'get_ack':
    row = conn.execute('SELECT _id, data, status FROM {} WHERE status < 2 ORDER BY _id ASC LIMIT 1'.format(table)).fetchone()
    with conn:
        conn.execute('UPDATE {} SET status = ? WHERE _id = ?'.format(table), ('2', row[0]))
    print(json.dumps([row[0], json.loads(row[1])]))
elif op == 'rows':
    out = []
    for r in conn.execute('SELECT _id, typeof(data), typeof(timestamp), data FROM {} ORDER BY _id'.format(table)):
        out.append([r[0], r[1], r[2], json.loads(r[3])])
    print(json.dumps(out))
