#!/usr/bin/python3
"""Held-out split and scoring for bench/quality_grid.sh (standard library only).

  holdout.py cut DB OUTDIR SEED [binary]
      In the SQLite database DB (a copy: it is changed), hold out 20% of each user's positive
      tracks (users with 5 or more; play, like, save or share), seeded: every event of a
      held-out (user, track) pair is deleted, and the pairs go to OUTDIR/test.csv, the users to
      OUTDIR/users.txt. With `binary`, what stays becomes one play of weight 1 per positive pair
      (skips, dislikes and repeats dropped).
  holdout.py score OUTDIR RECS.csv
      recall@20 (hits / min(20, held out)) and NDCG@20 over the users of test.csv, from the
      CSV of `tunetrail recommend --users-file` (user_id, rank, track_id, ...).
"""
import csv
import math
import random
import sqlite3
import sys

POSITIVE = ('play', 'like', 'save', 'share')


def cut(db_path, out, seed, binary):
    db = sqlite3.connect(db_path)
    marks = ','.join('?' * len(POSITIVE))
    pos = {}
    for u, t in db.execute(f'select distinct user_id, track_id from interactions '
                           f'where action in ({marks}) order by user_id, track_id', POSITIVE):
        pos.setdefault(u, []).append(t)
    rng = random.Random(int(seed))
    held = []
    for u in sorted(pos):
        tracks = pos[u]
        rng.shuffle(tracks)
        n = int(round(len(tracks) * 0.2)) if len(tracks) >= 5 else 0
        held += [(u, t) for t in tracks[:n]]
    db.execute('create temp table held (user_id text, track_id text, primary key (user_id, track_id))')
    db.executemany('insert into held values (?, ?)', held)
    db.execute('delete from interactions where (user_id, track_id) in (select user_id, track_id from held)')
    if binary:
        db.execute(f'create temp table kept as select user_id, track_id, max(occurred_at) as at '
                   f'from interactions where action in ({marks}) group by user_id, track_id', POSITIVE)
        db.execute('delete from interactions')
        db.execute("insert into interactions (user_id, track_id, action, weight, occurred_at) "
                   "select user_id, track_id, 'play', 1, at from kept")
    db.commit()
    db.close()
    with open(out + '/test.csv', 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['user_id', 'track_id'])
        w.writerows(held)
    with open(out + '/users.txt', 'w') as f:
        f.write(''.join(u + '\n' for u in sorted({u for u, _ in held})))


def score(out, recs_path, k=20):
    test = {}
    with open(out + '/test.csv') as f:
        for r in csv.DictReader(f):
            test.setdefault(r['user_id'], set()).add(r['track_id'])
    recs = {}
    with open(recs_path) as f:
        for row in csv.reader(f):
            if len(row) >= 3 and row[1].strip().isdigit():
                recs.setdefault(row[0], []).append((int(row[1]), row[2]))
    rs, ns = [], []
    for u, t in test.items():
        got = [i for _, i in sorted(recs.get(u, []))][:k]
        m = min(k, len(t))
        hits = [1 if i in t else 0 for i in got]
        rs.append(sum(hits) / m)
        ns.append(sum(h / math.log2(j + 2) for j, h in enumerate(hits)) /
                  sum(1 / math.log2(j + 2) for j in range(m)))
    print(f'{sum(rs) / len(rs):.4f} {sum(ns) / len(ns):.4f}')


if __name__ == '__main__':
    if sys.argv[1] == 'cut':
        cut(sys.argv[2], sys.argv[3], sys.argv[4], len(sys.argv) > 5 and sys.argv[5] == 'binary')
    elif sys.argv[1] == 'score':
        score(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
