-- Each request a batch of 1,000 samples with fresh ids (thread, request,
-- index), over TENANTS seeded tenants and the five gauges, stamped now.
local thread_id = 0
local counter = 0
local tenants = tonumber(os.getenv("TENANTS") or "1000")
local metrics = { "storage_bytes", "users", "db_connections", "cpu_millicores", "memory_bytes" }

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
end

function request()
  counter = counter + 1
  local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local parts = {}
  for i = 1, 1000 do
    local n = (counter * 1000 + i)
    parts[i] = string.format(
      '{"id":"%s-%d-%d","tenant":"seed-%d","metric":"%s","value":%d,"at":"%s"}',
      os.getenv("RUN") or "r", tid, n, 1 + n % tenants, metrics[1 + n % 5], n % 100000, now)
  end
  return wrk.format(nil, "/api/v1/usage", nil, '{"samples":[' .. table.concat(parts, ",") .. ']}')
end
