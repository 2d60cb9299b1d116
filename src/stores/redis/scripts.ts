/**
 * The Lua scripts of the Redis stores (ioredis defineCommand: EVALSHA, EVAL after a NOSCRIPT).
 * Each takes only keys of one slot (one session's, one node's queue, one application's dead
 * letters), so they run on a Redis Cluster too.
 *
 * Session writes (sbwrite) are fenced: ARGV[1] is the writer's token for the session ('' = a
 * session never acquired: unconditional). A write applies only while the session's fence key
 * holds exactly that token, so a node that lost the session to another (which raised the token
 * with sbacquire) writes nothing more; a missing fence key refuses too (it vanished with the
 * session, and nobody holding an older token may bring it back). Results: 1 applied, 0 refused
 * by the fence, 2 no such session (writes other than put and delete need the session's meta, as
 * in the other backends; this also keeps an expired session's keys from coming back without an
 * expiry).
 *
 * Expiry: `x` in the meta hash is when the session expires (ms since epoch, 0 = never). sessions
 * put with x > 0 get PEXPIREAT x on every key, x = 0 PERSIST; every later write refreshes the
 * expiry of the key it touched (a key created by then, such as a parked session's queue).
 */
import type { Client } from './connection.js';

/** Sessions raw, as sbread returns them: meta, subscriptions and in-flight hashes (field, value, ...), inbound ids, queue length. */
export type RawSession = [meta: Buffer[], subs: Buffer[], inflight: Buffer[], inbound: Buffer[], queued: number];

type Arg = string | Buffer | number;

export interface Scripts {
  sbwrite(...args: Arg[]): Promise<number>;
  sbacquireBuffer(...args: Arg[]): Promise<[token: number, session: RawSession | null]>;
  sbreadBuffer(...args: Arg[]): Promise<RawSession | null>;
  sbreclaim(...args: Arg[]): Promise<number>;
  sbdladd(...args: Arg[]): Promise<number>;
  sbqattempted(...args: Arg[]): Promise<number>;
  sbqremove(...args: Arg[]): Promise<number>;
}

const READ = `
local function read()
  local m = redis.call('HGETALL', KEYS[2])
  if #m == 0 then return false end
  return {m, redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[5]), redis.call('SMEMBERS', KEYS[6]), redis.call('LLEN', KEYS[4])}
end
`;

/** KEYS: fence meta subs q inf in. ARGV: token, op, args... */
const WRITE = `
local tok = ARGV[1]
if tok ~= '' and redis.call('GET', KEYS[1]) ~= tok then return 0 end
local op = ARGV[2]
if op == 'put' then
  redis.call('HSET', KEYS[2], 'm', ARGV[3], 'x', ARGV[4])
  if ARGV[4] == '0' then
    for i = 1, 6 do redis.call('PERSIST', KEYS[i]) end
  else
    for i = 1, 6 do redis.call('PEXPIREAT', KEYS[i], ARGV[4]) end
  end
  return 1
end
if op == 'del' then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
  -- the fence stays a while (ARGV[3] ms): nodes holding older tokens stay refused
  if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
  return 1
end
if redis.call('EXISTS', KEYS[2]) == 0 then return 2 end
local k
if op == 'sub' then
  k = KEYS[3]
  redis.call('HSET', k, ARGV[3], ARGV[4])
elseif op == 'unsub' then
  k = KEYS[3]
  redis.call('HDEL', k, ARGV[3])
elseif op == 'enq' then
  k = KEYS[4]
  redis.call('RPUSH', k, ARGV[3])
elseif op == 'deq' then
  k = KEYS[4]
  redis.call('LPOP', k)
elseif op == 'inf' then
  k = KEYS[5]
  redis.call('HSET', k, ARGV[3], ARGV[4])
elseif op == 'uninf' then
  k = KEYS[5]
  redis.call('HDEL', k, ARGV[3])
elseif op == 'in' then
  k = KEYS[6]
  redis.call('SADD', k, ARGV[3])
elseif op == 'unin' then
  k = KEYS[6]
  redis.call('SREM', k, ARGV[3])
elseif op == 'will' then
  k = KEYS[2]
  if ARGV[3] == '' then redis.call('HDEL', k, 'w') else redis.call('HSET', k, 'w', ARGV[3]) end
else
  return redis.error_reply('sbwrite: unknown op ' .. op)
end
local x = redis.call('HGET', KEYS[2], 'x')
if x and x ~= '0' then redis.call('PEXPIREAT', k, x) end
return 1
`;

/**
 * KEYS: fence meta subs q inf in. ARGV: how long a fence without a session lives (ms).
 * Raises the token (a new fence starts at the server's time in microseconds, so tokens keep
 * increasing even after a fence key expired) and reads the session in the same step.
 */
const ACQUIRE = `${READ}
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], t[1] .. string.format('%06d', tonumber(t[2])))
end
local tok = redis.call('INCR', KEYS[1])
local x = redis.call('HGET', KEYS[2], 'x')
if not x then
  if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
  return {tok, false}
end
if x == '0' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIREAT', KEYS[1], x) end
return {tok, read()}
`;

/**
 * KEYS: fence. ARGV: the holder's token, how long a fence without a session lives (ms).
 * After an outage: 1 the fence still carries this token; 2 it was gone (Redis lost its data)
 * and now carries it again (no other node took the session since: it would have made a new
 * fence); 0 another node holds the session.
 */
const RECLAIM = `
local f = redis.call('GET', KEYS[1])
if f == ARGV[1] then return 1 end
if f then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 2
`;

const READ_ONLY = `${READ}
return read()
`;

/** KEYS: the application's dead letters. ARGV: id, letter, maxCount, oldest id kept. */
const DL_ADD = `
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
local max = tonumber(ARGV[3])
if n > max then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - max - 1) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4])
return 1
`;

/** KEYS: queue entries, attempts. ARGV: id, attempts. */
const Q_ATTEMPTED = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`;

/** KEYS: queue entries, attempts. ARGV: id. */
const Q_REMOVE = `
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
`;

export function defineScripts(c: Client): Scripts {
  c.defineCommand('sbwrite', { numberOfKeys: 6, lua: WRITE });
  c.defineCommand('sbacquire', { numberOfKeys: 6, lua: ACQUIRE });
  c.defineCommand('sbread', { numberOfKeys: 6, lua: READ_ONLY, readOnly: true });
  c.defineCommand('sbreclaim', { numberOfKeys: 1, lua: RECLAIM });
  c.defineCommand('sbdladd', { numberOfKeys: 1, lua: DL_ADD });
  c.defineCommand('sbqattempted', { numberOfKeys: 2, lua: Q_ATTEMPTED });
  c.defineCommand('sbqremove', { numberOfKeys: 2, lua: Q_REMOVE });
  // defineCommand adds the methods at run time; this is their shape.
  return c as unknown as Scripts;
}
