import { createHash } from "node:crypto";

/** A Lua script and its SHA-1, the name `EVALSHA` knows it by. */
export interface RateLimitScript {
  readonly lua: string;
  readonly sha: string;
}

/**
 * Seconds of the Unix epoch the scripts count time from (2026-01-01T00:00:00Z). Doubles of
 * milliseconds since a recent instant round less than milliseconds since 1970, which keeps the
 * GCRA's rounding slack small; every gateway instance must use the same value.
 */
export const scriptEpochSeconds = 1_767_225_600;

// Redis server time, so that every gateway instance reads one clock. Scripts are replicated by
// their effects (Redis >= 5), so reading TIME before writing is allowed.
const now = `local time = redis.call('TIME')
local now = (tonumber(time[1]) - ${scriptEpochSeconds}) * 1000 + tonumber(time[2]) / 1000`;

// Lua 5.1 numbers are doubles with the same IEEE arithmetic as JavaScript; '%.17g' keeps every
// bit when a double is stored or returned (Redis would truncate a returned number to an integer).
const num = `local function num(x)
  return string.format('%.17g', x)
end`;

/**
 * GCRA, mirroring `gcraDecide` of `@flotilla/resilience` line by line. KEYS[1] holds the TAT (ms
 * since {@link scriptEpochSeconds}) and expires when the bucket is full again. ARGV: emission
 * interval ms, burst tolerance ms, limit, permits. Returns `{allowed, remaining, retryAfterMs,
 * resetAfterMs}`, the last two as strings, `retryAfterMs` `"-1"` for never.
 */
const gcraLua = `${now}
${num}
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[3])
local permits = tonumber(ARGV[4])
local capacity = tonumber(ARGV[2]) + interval
local tat = tonumber(redis.call('GET', KEYS[1]))
local ahead = 0
if tat ~= nil and tat > now then ahead = tat - now end
local increment = permits * interval
local needed = ahead + increment
local drift = (math.abs(now) + capacity + increment) * (limit + permits + 1) * 2^-52
local slack = math.min(drift, interval / 16)
local function clamp(p)
  return math.max(0, math.min(p, limit))
end
if needed <= capacity + slack then
  if needed > 0 then
    redis.call('SET', KEYS[1], num(now + needed), 'PX', math.ceil(needed))
  end
  return {1, clamp(math.floor((capacity + slack - needed) / interval)), '0', num(needed)}
end
local retry = -1
if not (increment > capacity + slack) then retry = needed - capacity end
return {0, clamp(math.floor((capacity + slack - ahead) / interval)), num(retry), num(ahead)}`;

/**
 * Token bucket, mirroring `tokenBucketDecide` line by line. KEYS[1] holds `"<tokens>:<at>"` (`at`
 * in ms since {@link scriptEpochSeconds}) and expires when the bucket is full again. ARGV:
 * capacity, refill per ms, permits, epsilon. Returns what the GCRA script returns.
 */
const tokenBucketLua = `${now}
${num}
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local permits = tonumber(ARGV[3])
local epsilon = tonumber(ARGV[4])
local level = capacity
local stored = redis.call('GET', KEYS[1])
if stored then
  local t, a = string.match(stored, '^([^:]+):(.+)$')
  local tokens, at = tonumber(t), tonumber(a)
  if tokens ~= nil and at ~= nil then
    local elapsed = 0
    if now > at then elapsed = now - at end
    level = math.min(capacity, tokens + elapsed * rate)
  end
end
if permits <= level + epsilon then
  local left = math.max(level - permits, 0)
  local reset = (capacity - left) / rate
  if reset > 0 then
    redis.call('SET', KEYS[1], num(left) .. ':' .. num(now), 'PX', math.ceil(reset))
  end
  return {1, math.floor(left + epsilon), '0', num(reset)}
end
local retry = -1
if not (permits > capacity) then retry = (permits - level) / rate end
return {0, math.floor(level + epsilon), num(retry), num((capacity - level) / rate)}`;

function script(lua: string): RateLimitScript {
  return Object.freeze({ lua, sha: createHash("sha1").update(lua).digest("hex") });
}

/** The Lua scripts of `redisRateLimitBackend`, one atomic script per algorithm. */
export const rateLimitScripts = Object.freeze({
  gcra: script(gcraLua),
  tokenBucket: script(tokenBucketLua),
});
