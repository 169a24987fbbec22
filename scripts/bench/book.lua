-- wrk script for benchmark 2: every request books a different seat, spread over the prepared shows.
-- Set by scripts/bench/http_path.py through the environment: BENCH_TOKEN, BENCH_SHOWS (comma list), BENCH_SEATS,
-- BENCH_PREFIX (a path before /shows/: the measuring routes of scripts/bench/ladder.py).
local token = os.getenv("BENCH_TOKEN")
local shows = {}
for id in string.gmatch(os.getenv("BENCH_SHOWS") or "1", "%d+") do shows[#shows + 1] = id end
local seats = tonumber(os.getenv("BENCH_SEATS") or "10000")
local counter = tonumber(os.getenv("BENCH_START") or "0")
local prefix = os.getenv("BENCH_PREFIX") or ""

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

local spread = os.getenv("BENCH_SPREAD") == "1"  -- round robin over the shows (cluster bench), not one at a time

request = function()
  counter = counter + 1
  local show = shows[(math.floor(counter / seats) % #shows) + 1]
  local seat = (counter % seats) + 1
  if spread then
    show = shows[(counter % #shows) + 1]
    seat = (math.floor(counter / #shows) % seats) + 1
  end
  return wrk.format(nil, prefix .. "/shows/" .. show .. "/book/", nil, '{"seat_number": ' .. seat .. '}')
end

done = function(summary, latency, requests)
  io.write(string.format("BENCH requests=%d seconds=%.3f p50=%.3f p90=%.3f p99=%.3f max=%.3f errors=%d status_errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
