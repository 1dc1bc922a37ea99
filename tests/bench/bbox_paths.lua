-- wrk script for tests/bench/serve_vs_pygeoapi.sh: cycles through a fixed list of request paths
-- (one per line in the file named by the first script argument), each thread starting at its
-- own offset, and prints one machine-readable summary line at the end:
--   wrk -c64 -t2 -d30s --latency -s bbox_paths.lua http://127.0.0.1:PORT -- paths.txt
local paths = {}
local i = 0
local threads = 0

function setup(thread)
  thread:set("offset", threads)
  threads = threads + 1
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
  if #paths == 0 then
    error("no paths in " .. tostring(args[1]))
  end
  -- Threads start half a cycle apart, so they do not ask for the same boxes in lockstep.
  i = math.floor((offset or 0) * #paths / 2)
end

function request()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end

function done(summary, latency, requests)
  local e = summary.errors
  local ms = function(us) return us / 1000.0 end
  io.write(string.format(
    "WRKRESULT requests=%d duration_us=%d bytes=%d rps=%.3f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f "
      .. "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration, summary.bytes, summary.requests / (summary.duration / 1e6),
    ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)), ms(latency.max), ms(latency.mean),
    e.connect, e.read, e.write, e.status, e.timeout))
end
