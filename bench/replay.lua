-- wrk script: replays WeChat callbacks without signing anything per request.
--
-- args: mode path expect arg4 [base]
--   mode "plain": every request is a fresh plain-mode text message (its own MsgId, a keyword
--     taken round-robin from the file arg4, one of 997 users). `path` is a file of signed
--     callback paths, one per message: a plain signature covers only token, timestamp and
--     nonce, so the body is made here, but a newsbot binds each signature to the first message
--     it came with. Running past the end of the paths repeats them and is reported as
--     `wrapped` (newsbot refuses those: 403).
--   mode "file": arg4 holds one pre-signed request per line, "path<TAB>body" (safe mode,
--     where msg_signature covers the ciphertext). Lines are taken in order; running past the
--     end repeats MsgIds and is reported as `wrapped`.
--   expect: a substring every good reply body contains ("<xml>", "<Encrypt>", "success").
--   base: first MsgId (plain mode), so the warm-up and the measured run never share one.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  mode, path, expect, src = args[1], args[2], args[3], args[4]
  base = tonumber(args[5] or "0") + tid * 10000000
  counter, good, bad, wrapped = 0, 0, 0, 0
  items = {}
  if mode == "plain" then
    for line in io.lines(src) do
      if #line > 0 then table.insert(items, line) end
    end
    paths = {}
    local i, nthreads = 0, tonumber(args[6] or "1")
    for line in io.lines(path) do
      if i % nthreads == tid and #line > 0 then table.insert(paths, line) end
      i = i + 1
    end
    ts = string.match(paths[1], "timestamp=(%d+)")
  else
    local i, nthreads = 0, tonumber(args[6] or "1")
    for line in io.lines(src) do
      -- thread t takes lines t, t+n, t+2n ...: no two threads replay the same message
      if i % nthreads == tid then
        local p, body = string.match(line, "^([^\t]+)\t(.*)$")
        table.insert(items, wrk.format("POST", p, {["Content-Type"] = "text/xml"}, body))
      end
      i = i + 1
    end
  end
end

function request()
  counter = counter + 1
  if mode == "plain" then
    local kw = items[(counter % #items) + 1]
    local body = "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>"
      .. "<FromUserName><![CDATA[o_bench_" .. (counter % 997) .. "]]></FromUserName>"
      .. "<CreateTime>" .. ts .. "</CreateTime><MsgType><![CDATA[text]]></MsgType>"
      .. "<Content><![CDATA[" .. kw .. "]]></Content>"
      .. "<MsgId>" .. string.format("%d", base + counter) .. "</MsgId></xml>"
    if counter > #paths then wrapped = wrapped + 1 end
    local p = paths[((counter - 1) % #paths) + 1]
    return wrk.format("POST", p, {["Content-Type"] = "text/xml"}, body)
  end
  if counter > #items then wrapped = wrapped + 1 end
  return items[((counter - 1) % #items) + 1]
end

function response(status, headers, body)
  if status == 200 and string.find(body, expect, 1, true) then
    good = good + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local g, b, w = 0, 0, 0
  for _, t in ipairs(threads) do
    g = g + t:get("good")
    b = b + t:get("bad")
    w = w + t:get("wrapped")
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "good": %d, "bad": %d, "wrapped": %d, '
    .. '"socket_errors": %d, "status_errors": %d, "p50_us": %d, "p90_us": %d, '
    .. '"p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, g, b, w,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
