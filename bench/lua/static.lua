-- One precomputed request, sent over and over on keep-alive connections (wrk builds it once per thread).
-- Arguments after `--`: METHOD AUTHORIZATION AMZ_DATE BODY_SIZE CONTENT_TYPE TARGET BODY
-- ("-" leaves a header out; BODY_SIZE > 0 sends that many bytes instead of BODY).
function init(args)
  wrk.method = args[1]
  wrk.headers["Authorization"] = args[2]
  wrk.headers["X-Amz-Date"] = args[3]
  local size = tonumber(args[4])
  if size > 0 then
    wrk.body = string.rep("x", size)
    wrk.headers["X-Amz-Content-Sha256"] = "UNSIGNED-PAYLOAD"
  elseif args[7] and args[7] ~= "-" then
    wrk.body = args[7]
  end
  if args[5] ~= "-" then wrk.headers["Content-Type"] = args[5] end
  if args[6] ~= "-" then wrk.headers["X-Amz-Target"] = args[6] end
end
