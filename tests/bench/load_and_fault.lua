-- wrk script for tests/bench/load_and_fault.sh: items pages of three collections at varying
-- offsets; every response must be 200, and its X-Gapmap-Data-Version header must equal the
-- body's "dataVersion". Each (version, collection, numberMatched) seen is recorded so the shell
-- script can check that no version ever shows two datasets' contents.
local paths = {}
local collections = { "estates", "facilities", "gaps" }
for i = 0, 29 do
  local c = collections[(i % 3) + 1]
  paths[#paths + 1] = string.format("/collections/%s/items?limit=20&offset=%d", c, (i * 37) % 1500)
end

local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  threads[#threads + 1] = thread
end

local n = 0
function init(args)
  failures = 0
  mismatches = 0
  missing = 0
  checked = 0
  seen = {}
end

local current = {}
function request()
  n = n + 1
  local path = paths[(n % #paths) + 1]
  return wrk.format("GET", path)
end

function response(status, headers, body)
  if status ~= 200 then
    failures = failures + 1
    return
  end
  local header = headers["x-gapmap-data-version"] or headers["X-Gapmap-Data-Version"]
  local version = string.match(body, '"dataVersion":(%d+)')
  local matched = string.match(body, '"numberMatched":(%d+)')
  local collection = string.match(body, '/collections/([%w%-]+)/items')
  if header == nil or version == nil or matched == nil or collection == nil then
    missing = missing + 1
    return
  end
  checked = checked + 1
  if header ~= version then
    mismatches = mismatches + 1
  end
  local key = version .. " " .. collection .. " " .. matched
  seen[key] = (seen[key] or 0) + 1
end

function done(summary, latency, requests)
  local f, m, miss, c = 0, 0, 0, 0
  local all = {}
  for _, t in ipairs(threads) do
    f = f + t:get("failures")
    m = m + t:get("mismatches")
    miss = miss + t:get("missing")
    c = c + t:get("checked")
    for k, v in pairs(t:get("seen")) do
      all[k] = (all[k] or 0) + v
    end
  end
  io.write(string.format("LUA requests=%d checked=%d non200=%d header_body_mismatches=%d unparsed=%d socket_errors=%d timeouts=%d\n",
    summary.requests, c, f, m, miss,
    summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout))
  io.write(string.format("LUA latency_ms p50=%.2f p99=%.2f max=%.2f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  for k, v in pairs(all) do
    io.write("SEEN " .. k .. " " .. v .. "\n")
  end
end
