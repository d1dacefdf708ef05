-- wrk script of bench/sync_storm.py: POSTs prepared requests to the URL's path.
-- Arguments (after `--`): the data file, each line "token<TAB>JSON body"; "once" (each line once)
-- or "loop" (rotate until the duration ends); a file that receives "grid_id<TAB>cursor" of every
-- answer (a pull's cursor, keyed by the cell of its first case), or "-"; and a file created when a
-- "once" run has all its answers. wrk's main thread sleeps for the whole duration whatever its
-- threads do, so bench/sync_storm.py interrupts it (SIGINT) when that file appears.

local requests = {}
local position = 0
local once = true
local capture = nil
local finished = nil
-- Sent when a "once" run has used every line but other connections are still waiting for their
-- answer: a cheap 404 that the summary leaves out (it counts only 200s).
local filler = nil

-- wrk calls request() once before the run to check the script (on the first thread only: the
-- bench runs one thread): that call must not use up a line.
local checked = false

-- Globals, so that done() can read them from the thread.
answered = 0
failed = 0
cases = 0
statuses = {}

function setup(thread)
   threads = threads or {}
   table.insert(threads, thread)
end

function init(args)
   for line in io.lines(args[1]) do
      local token, body = line:match("^([^\t]+)\t(.*)$")
      local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
      table.insert(requests, wrk.format("POST", nil, headers, body))
   end
   once = args[2] == "once"
   if args[3] ~= "-" then
      capture = io.open(args[3], "w")
   end
   finished = args[4]
   filler = wrk.format("GET", "/bench-storm-filler")
end

function request()
   if not checked then
      checked = true
      return filler
   end
   if position >= #requests then
      if once then
         return filler
      end
      position = 0
   end
   position = position + 1
   return requests[position]
end

function response(status, headers, body)
   if status ~= 200 then
      if status ~= 404 then
         failed = failed + 1
      end
      if once and answered + failed >= #requests then
         finish()
      end
      return
   end
   answered = answered + 1
   -- A mutation result starts with its id then its status; a case has its ticket after its id.
   for s in body:gmatch('"id":"[%x%-]+","status":"(%a+)"') do
      statuses[s] = (statuses[s] or 0) + 1
   end
   -- A verify answer says whether the copy was whole.
   local ok = body:match('^{"ok":(%a+)')
   if ok then
      statuses["ok_" .. ok] = (statuses["ok_" .. ok] or 0) + 1
   end
   for _ in body:gmatch('"ticket":') do
      cases = cases + 1
   end
   if capture then
      capture:write(body:match('"grid_id":(%d+)') or "", "\t", body:match('"cursor":"([^"]+)"') or "", "\n")
   end
   if once and answered + failed >= #requests then
      finish()
   end
end

function finish()
   if capture then
      capture:close()
      capture = nil
   end
   io.open(finished, "w"):close()
   wrk.thread:stop()
end

function done(summary, latency, _)
   local total, lost, found, counts = 0, 0, 0, {}
   for _, thread in ipairs(threads) do
      total = total + thread:get("answered")
      lost = lost + thread:get("failed")
      found = found + thread:get("cases")
      for k, v in pairs(thread:get("statuses")) do
         counts[k] = (counts[k] or 0) + v
      end
   end
   local parts = {}
   for k, v in pairs(counts) do
      table.insert(parts, string.format('"%s":%d', k, v))
   end
   local e = summary.errors
   io.write(string.format(
      '{"answered":%d,"failed":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"cases":%d,'
         .. '"socket_errors":%d,"statuses":{%s}}\n',
      total, lost, summary.duration, latency:percentile(50), latency:percentile(99), latency.max, found,
      e.connect + e.read + e.write + e.timeout, table.concat(parts, ",")))
end
