"""The Redis side: an at-least-once queue with a processing list per worker, a delayed-retry
sorted set, a dead-letter list, dedupe and replay keys, and the worker's counters.

Keys (prefix from the configuration, default ``byom:wh:``):
  ready               list, LPUSH by the receiver, BRPOPLPUSH by the workers
  processing:<wid>    list, the item a worker is delivering (requeued if the worker dies)
  delayed             zset, score = time the retry is due
  dead                list, dead letters
  seen:<key>          dedupe marker, TTL dedupe_ttl_s
  sig:<hash>          HMAC replay marker, TTL 2 x timestamp window
  stats               hash of worker counters (deliveries, retries, dead letters)
BRPOPLPUSH (not BLMOVE) because Debian 11's Redis 6.0 and python3-redis 3.5 lack BLMOVE.
"""

import hashlib
import json
import time

# One round trip for the receiver's async lane: replay check, dedupe, enqueue (atomic).
# KEYS: sig-key ('' = none), seen-key, ready; ARGV: sig ttl, seen ttl, items...
# Returns 0 = replayed signature, 1 = duplicate event, 2 = queued.
_ACCEPT = """
if KEYS[1] ~= '' then
  if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) == false then return 0 end
end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) == false then return 1 end
for i = 3, #ARGV do redis.call('LPUSH', KEYS[3], ARGV[i]) end
return 2
"""

# Due retries back to the ready list. KEYS: delayed, ready; ARGV: now, limit.
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, item in ipairs(due) do
  redis.call('ZREM', KEYS[1], item)
  redis.call('LPUSH', KEYS[2], item)
end
return #due
"""


def connect(rcfg):
    import redis  # Debian's python3-redis; imported late so the pure modules need nothing.
    return redis.Redis(host=rcfg["host"], port=rcfg["port"], password=rcfg["password"] or None,
                       db=rcfg["db"], socket_timeout=rcfg["socket_timeout_s"],
                       socket_connect_timeout=rcfg["socket_timeout_s"], health_check_interval=30)


class Store(object):
    def __init__(self, cfg, client=None):
        self.cfg = cfg
        self.p = cfg["redis"]["prefix"]
        self.r = client if client is not None else connect(cfg["redis"])
        self._accept = self.r.register_script(_ACCEPT)
        self._promote = self.r.register_script(_PROMOTE)

    def k(self, name):
        return self.p + name

    # ------------------------------------------------------------------ receiver
    def accept(self, key, kind, body, replay_token=None):
        """Dedupe and enqueue one event (one item per downstream URL). Returns 'replay',
        'duplicate' or 'queued'."""
        now = time.time()
        items = [json.dumps({"key": key, "type": kind, "url": url, "attempt": 0, "received": now,
                             "body": body.decode("utf-8")}, separators=(",", ":"))
                 for url in self.cfg["downstream"]["urls"]]
        sig_key = ""
        if replay_token:
            sig_key = self.k("sig:" + hashlib.sha256(replay_token.encode("utf-8")).hexdigest()[:40])
        ttl_sig = int(2 * self.cfg["auth"]["timestamp_tolerance_s"]) + 1
        res = self._accept(keys=[sig_key, self.k("seen:" + key), self.k("ready")],
                           args=[ttl_sig, int(self.cfg["dedupe_ttl_s"])] + items)
        return {0: "replay", 1: "duplicate", 2: "queued"}[int(res)]

    def check_replay(self, replay_token):
        """Sync lane: True when this signature was not seen inside the window."""
        sig_key = self.k("sig:" + hashlib.sha256(replay_token.encode("utf-8")).hexdigest()[:40])
        ttl = int(2 * self.cfg["auth"]["timestamp_tolerance_s"]) + 1
        return bool(self.r.set(sig_key, "1", nx=True, ex=ttl))

    def depths(self):
        pipe = self.r.pipeline(transaction=False)
        pipe.llen(self.k("ready"))
        pipe.zcard(self.k("delayed"))
        pipe.llen(self.k("dead"))
        ready, delayed, dead = pipe.execute()
        processing = 0
        for name in self.r.scan_iter(match=self.k("processing:*"), count=100):
            processing += self.r.llen(name)
        return {"ready": ready, "delayed": delayed, "processing": processing, "dead": dead}

    def stats(self):
        raw = self.r.hgetall(self.k("stats"))
        return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}

    # ------------------------------------------------------------------ worker
    def processing_key(self, wid):
        return self.k("processing:" + wid)

    def recover(self, name):
        """Requeue what this worker set's dead predecessors left in their processing lists."""
        moved = 0
        for pkey in list(self.r.scan_iter(match=self.k("processing:%s:*" % name), count=100)):
            while self.r.rpoplpush(pkey, self.k("ready")) is not None:
                moved += 1
        return moved

    def promote_due(self, limit=100):
        return int(self._promote(keys=[self.k("delayed"), self.k("ready")], args=[time.time(), limit]))

    def take(self, wid, timeout=1):
        return self.r.brpoplpush(self.k("ready"), self.processing_key(wid), timeout)

    def done(self, wid, raw):
        pipe = self.r.pipeline(transaction=True)
        pipe.lrem(self.processing_key(wid), 1, raw)
        pipe.hincrby(self.k("stats"), "delivered", 1)
        pipe.execute()

    def retry_later(self, wid, raw, item, due):
        pipe = self.r.pipeline(transaction=True)
        pipe.lrem(self.processing_key(wid), 1, raw)
        pipe.zadd(self.k("delayed"), {json.dumps(item, separators=(",", ":")): due})
        pipe.hincrby(self.k("stats"), "retries", 1)
        pipe.execute()

    def bury(self, wid, raw, item):
        pipe = self.r.pipeline(transaction=True)
        pipe.lrem(self.processing_key(wid), 1, raw)
        pipe.lpush(self.k("dead"), json.dumps(item, separators=(",", ":")))
        pipe.hincrby(self.k("stats"), "dead_lettered", 1)
        pipe.execute()

    # ------------------------------------------------------------------ dead letters
    def dead_letters(self, limit=100):
        return [json.loads(x) for x in self.r.lrange(self.k("dead"), 0, limit - 1)]

    def replay_dead(self, key=None, limit=1000):
        """Move dead letters (all, or those with idempotency key `key`) back to the ready list
        with a fresh attempt count. Returns how many moved."""
        moved = 0
        for dummy in range(limit):
            raws = self.r.lrange(self.k("dead"), 0, -1)
            target = None
            for raw in reversed(raws):
                item = json.loads(raw)
                if key is None or item["key"] == key:
                    target = (raw, item)
                    break
            if target is None:
                break
            raw, item = target
            item["attempt"] = 0
            item.pop("last_error", None)
            pipe = self.r.pipeline(transaction=True)
            pipe.lrem(self.k("dead"), 1, raw)
            pipe.lpush(self.k("ready"), json.dumps(item, separators=(",", ":")))
            pipe.hincrby(self.k("stats"), "replayed", 1)
            res = pipe.execute()
            if res[0]:
                moved += 1
        return moved
