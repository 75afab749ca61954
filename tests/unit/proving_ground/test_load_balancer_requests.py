"""The local load balancer lists a request as soon as its client has the answer.

It records a request after relaying the response, so without waiting for requests in flight a
client that reads its answer and then asks for the list could miss its own request (an e2e
failure note once lacked the last request that way).
"""
import http.server
import threading

from proving_ground.load_balancer import LocalLoadBalancer


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the name http.server calls)
        payload = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_every_answered_request_is_listed_at_once():
    target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=target.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        with LocalLoadBalancer(target.server_address, "mlflow.example.internal") as balancer:
            for number in range(60):
                status, _headers, body = balancer.request("GET", f"/health?n={number}")
                assert (status, body) == (200, b"ok")
                assert f"GET /health?n={number} Host=mlflow.example.internal -> 200" in balancer.describe_requests(last=1)
            assert len(balancer.requests) == 60
    finally:
        target.shutdown()
        target.server_close()
