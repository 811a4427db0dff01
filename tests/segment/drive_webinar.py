"""Drives engage with Segment's own Python library (PyPI `segment-analytics-python`).

Usage: drive_webinar.py BASE_URL WRITE_KEY SESSION_ID T0_MS VIDEO_ASSET_ID

Sends one webinar session made of the Livestorm web-conferencing semantic events, plus
identify, page, screen and Video Spec calls: first one call per request (`sync_mode`), then the rest queued
and shipped as gzip-compressed multi-event batches. Exits non-zero if any delivery failed.
The Rust test (crates/engage/tests/segment_e2e.rs) asserts the resulting engagement.
"""

import sys
from datetime import datetime, timezone

import segment.analytics as analytics
from segment.analytics import Client

base, write_key, session, t0 = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
errors = []


def on_error(error, items):
    errors.append((repr(error), len(items)))


def at(seconds):
    """The datetime t0 + seconds (millisecond precision, UTC)."""
    return datetime.fromtimestamp((t0 + int(seconds * 1000)) / 1000, tz=timezone.utc)


def props(**kw):
    return dict(session_id=session, **kw)


# One call per request: the module-level client in synchronous mode.
analytics.write_key = write_key
analytics.host = base
analytics.sync_mode = True
analytics.on_error = on_error
analytics.max_retries = 0

analytics.identify("host", {"name": "Gilles Bertaux", "role": "host"}, timestamp=at(0))
analytics.page("a", "Webinars", "Webinar Room", {"path": "/room"}, timestamp=at(1))
# The Livestorm slide's spelling: lower-case second word.
analytics.track("host", "Session started", props(), timestamp=at(0))
analytics.track("a", "User Joined", props(name="Ada"), timestamp=at(5))
analytics.track("host", "Stream Enabled",
                props(id="st1", type="screensharing", resolution="1280x720"), timestamp=at(10))
analytics.track("b", "User Joined", props(name="Bob"), timestamp=at(15))
analytics.track("a", "User Engaged", props(type="poll", id="q1", content="Yes"), timestamp=at(20))
analytics.track("a", "Stream Enabled", props(type="camera", resolution="640x480"), timestamp=at(30))
# A retried delivery: the same messageId twice counts once.
for _ in range(2):
    analytics.track("a", "User Engaged", props(type="poll", id="q2", content="No"),
                    timestamp=at(50), message_id="retried-poll-1")
# No session id: attributed to the only live session of its source (kept raw too).
analytics.track("z", "User Joined", {"name": "Nobody"}, timestamp=at(55))

# Queued and batched (several events per POST /v1/batch), gzip bodies.
client = Client(write_key, host=base, on_error=on_error, gzip=True, sync_mode=False,
                upload_size=50, upload_interval=0.2, max_retries=0)
client.track("c", "User joined", props(name="Cy"), timestamp=at(75))
client.track("b", "User Joined", props(name="Bob again"), timestamp=at(80))
client.track("c", "User Engaged", props(type="chat", content="Hello"), timestamp=at(85))
client.track("a", "User Left", props(), timestamp=at(95))
client.track("host", "Stream Disabled", props(id="st1", type="screensharing"), timestamp=at(100))
client.screen("c", name="Player", properties={"fullscreen": True}, timestamp=at(101))
client.track("host", "Session Ended", props(), timestamp=at(135))
# Video Spec events, as Segment's spec sends them: Playback events name the content
# (`content_asset_id`), Content events the asset being played (`asset_id`).
playback = dict(content_asset_id=sys.argv[5], session_id="playback-1", total_length=60)
content = dict(asset_id=sys.argv[5], session_id="playback-1", total_length=60)
client.track("a", "Video Playback Started", dict(playback, position=0), timestamp=at(40))
client.track("a", "Video Content Started", dict(content, position=0), timestamp=at(41))
client.track("a", "Video Content Playing", dict(content, position=30), timestamp=at(70))
client.track("a", "Video Content Completed", dict(content, position=60), timestamp=at(100))
client.track("a", "Video Playback Completed", dict(playback, position=60), timestamp=at(101))
client.flush()
client.join()

if errors:
    print("delivery errors:", errors, file=sys.stderr)
    sys.exit(1)
print("sent")
