-- SQS ReceiveMessage (up to 10 messages) followed by one DeleteMessage per message received (no batch
-- delete), over the awsJson 1.0 protocol. Receipt handles parsed out of receive responses are queued
-- and spent by the next requests on any connection. Arguments after `--`: QUEUE_URL AUTHORIZATION AMZ_DATE
-- `done` prints "deleted: N" (deletes sent) and "received: N" (handles parsed).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  queue_url = args[1]
  headers = {
    ["Authorization"] = args[2],
    ["X-Amz-Date"] = args[3],
    ["Content-Type"] = "application/x-amz-json-1.0",
  }
  handles = {}
  deleted = 0
  received = 0
end

local function call(target, body)
  headers["X-Amz-Target"] = "AmazonSQS." .. target
  return wrk.format("POST", nil, headers, body)
end

function request()
  local handle = table.remove(handles)
  if handle then
    deleted = deleted + 1
    return call("DeleteMessage", '{"QueueUrl":"' .. queue_url .. '","ReceiptHandle":"' .. handle .. '"}')
  end
  return call("ReceiveMessage", '{"QueueUrl":"' .. queue_url ..
    '","MaxNumberOfMessages":10,"VisibilityTimeout":600,"WaitTimeSeconds":0}')
end

function response(status, hdrs, body)
  if status ~= 200 or body == nil then return end
  for handle in string.gmatch(body, '"ReceiptHandle"%s*:%s*"([^"]+)"') do
    handles[#handles + 1] = handle
    received = received + 1
  end
end

function done(summary, latency, requests)
  local d, r = 0, 0
  for _, t in ipairs(threads) do
    d = d + t:get("deleted")
    r = r + t:get("received")
  end
  io.write(string.format("deleted: %d\nreceived: %d\n", d, r))
end
