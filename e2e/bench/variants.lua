-- wrk script: variations of the harness's diverse load (wrk/diverse.lua),
-- chosen by the VARIANT environment variable. Every request picks one of
-- TOKENS agency tokens (default 16) and one of the variant's queries:
--
--   small    pages 1-10 x 4 sorts, only id and name
--   hasnext  pages 1-10 x 4 sorts, every field and hasNextPage (two pages)
--   pairs    two aliased pages of one sort (p and p+5, p in 1-5) x 4 sorts, id name email
--   every    pages 1-10 x 4 sorts, every field (the harness's own load); with
--            TOKENS=1000, nearly every request carries a credential seen rarely
--
-- ACCEPT_ENCODING, when set, is sent as Accept-Encoding, as browsers do
-- ("gzip, deflate, br, zstd" for Chrome and Firefox): the answers then come
-- compressed. Unset, none is sent, as in the harness's own scripts.
--
-- Prints the same WRKRESULT line as the harness's scripts.
local variant = os.getenv("VARIANT") or "small"
local tokens = tonumber(os.getenv("TOKENS") or "16")
local encoding = os.getenv("ACCEPT_ENCODING")
local sorts = {"CREATED_AT", "UPDATED_AT", "NAME", "LAST_LOGIN"}
local every = "id name contact { email } verified status subscriptionType createdAt updatedAt lastLogin"
local bodies = {}
local function add(q)
  bodies[#bodies + 1] = string.format('{"query":"%s"}', q)
end
for _, s in ipairs(sorts) do
  if variant == "pairs" then
    for p = 1, 5 do
      add(string.format("{ a: customers(page: %d, sort: %s) { nodes { id name contact { email } } } b: customers(page: %d, sort: %s) { nodes { id name contact { email } } } }", p, s, p + 5, s))
    end
  else
    for p = 1, 10 do
      if variant == "small" then
        add(string.format("{ customers(page: %d, sort: %s) { nodes { id name } } }", p, s))
      elseif variant == "hasnext" then
        add(string.format("{ customers(page: %d, sort: %s) { page hasNextPage nodes { %s } } }", p, s, every))
      elseif variant == "every" then
        add(string.format("{ customers(page: %d, sort: %s) { page nodes { %s } } }", p, s, every))
      else
        error("unknown VARIANT " .. variant)
      end
    end
  end
end
init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end
request = function()
  local headers = {["Content-Type"] = "application/json", ["Accept"] = "application/json",
    ["Authorization"] = "Bearer agency-" .. math.random(tokens)}
  if encoding and encoding ~= "" then
    headers["Accept-Encoding"] = encoding
  end
  return wrk.format("POST", nil, headers, bodies[math.random(#bodies)])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKRESULT requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
