-- wrk script: POST the request body in $WRK_BODY_FILE with the REST Proxy content type.
local f = assert(io.open(os.getenv("WRK_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/vnd.kafka.json.v2+json"
