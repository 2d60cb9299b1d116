#!/usr/bin/python3
"""A backend service of the contact centre on STOMP (stomp.py): it logs in as svc-1, sends
agent-1 a call as a direct message, and prints every answer on its own inbox with its sender.
STOMP_PORT (default 61613) names the broker's STOMP port."""
import os
import time

import stomp


class Answers(stomp.ConnectionListener):
    def on_message(self, frame):
        print(f"{frame.body} (from {frame.headers.get('from')})", flush=True)


c = stomp.Connection12([("127.0.0.1", int(os.environ.get("STOMP_PORT", "61613")))], vhost="my_app_secret_key")
c.set_listener("", Answers())
c.connect("svc-1", "my_service_secret_key", wait=True)
c.subscribe("/topic/$inbox/svc-1/#", id="inbox", ack="auto", headers={"receipt": "subscribed"})
c.send("/topic/$inbox/agent-1", "new call: +1 555 0100")
print("svc-1: sent agent-1 a call; waiting for answers (Ctrl-C to stop)", flush=True)
try:
    while True:
        time.sleep(1)
except KeyboardInterrupt:
    c.disconnect()
