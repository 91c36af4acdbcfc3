-- wrk script: POST htmx events round-robin over many conversations.
-- BENCH_TARGETS = "path|cookie;path|cookie;..."
local targets = {}
for entry in string.gmatch(os.getenv("BENCH_TARGETS"), "[^;]+") do
  local path, cookie = entry:match("([^|]+)|(.+)")
  table.insert(targets, {path = path, cookie = cookie})
end
local i = 0
request = function()
  i = i % #targets + 1
  local t = targets[i]
  return wrk.format("POST", t.path, {["Cookie"] = t.cookie, ["HX-Request"] = "true",
    ["Content-Type"] = "application/x-www-form-urlencoded"}, "")
end
