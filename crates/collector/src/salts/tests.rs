//! The keeper over the directory book, with an injected clock.

use super::dir::{DIR_NAME, DirSaltBook};
use super::*;
use engage_model::time::DAY_MS;
use std::sync::atomic::{AtomicI64, Ordering};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 20_789; // 2026-12-02
const POLICY: SaltPolicy = SaltPolicy { allowed_lateness_ms: 48 * HOUR };

fn clock_at(now: &Arc<AtomicI64>) -> Clock {
    let now = now.clone();
    Arc::new(move || now.load(Ordering::SeqCst))
}

fn keeper(dir: &std::path::Path, now: &Arc<AtomicI64>) -> (SaltKeeper, ViewerKeyer) {
    let book = DirSaltBook::in_data_dir(dir).expect("book");
    let keyer = ViewerKeyer::default();
    (SaltKeeper::new(Arc::new(book), keyer.clone(), POLICY, clock_at(now)), keyer)
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(DIR_NAME))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn salts_are_made_random_kept_across_restarts_and_deleted_when_expired() {
    let data = tempfile::tempdir().expect("tempdir");
    let now = Arc::new(AtomicI64::new(DAY * DAY_MS + 12 * HOUR));
    let (keeper_a, keyer_a) = keeper(data.path(), &now);
    let done = keeper_a.refresh().await.expect("refresh");
    assert_eq!(done.proposed, vec![DAY - 2, DAY - 1, DAY, DAY + 1]);
    assert_eq!(files(data.path()), vec!["2026-11-30", "2026-12-01", "2026-12-02", "2026-12-03"]);
    let salts = keyer_a.salts();
    assert_eq!(salts.days().collect::<Vec<_>>(), vec![DAY - 2, DAY - 1, DAY, DAY + 1]);
    assert_ne!(salts.get(DAY), salts.get(DAY + 1), "each day its own random salt");

    // A restart (a new keeper, a new keyer) reads the same salts and proposes nothing.
    let (keeper_b, keyer_b) = keeper(data.path(), &now);
    assert_eq!(keeper_b.refresh().await.expect("refresh"), Refreshed::default());
    assert_eq!(keyer_b.salts(), salts);

    // Another data dir draws other salts.
    let other = tempfile::tempdir().expect("tempdir");
    let (keeper_c, keyer_c) = keeper(other.path(), &now);
    keeper_c.refresh().await.expect("refresh");
    assert_ne!(keyer_c.salts().get(DAY), salts.get(DAY));

    // A day and 15 hours later (03:00 of DAY + 2), the salt of DAY - 1 has expired: its day
    // ended 51 hours ago (the 48 h horizon plus the 3 h midnight bridge). DAY - 2 went earlier.
    now.store((DAY + 2) * DAY_MS + 3 * HOUR, Ordering::SeqCst);
    let done = keeper_a.refresh().await.expect("refresh");
    assert_eq!(done.deleted, vec![DAY - 2, DAY - 1]);
    assert_eq!(done.proposed, vec![DAY + 2, DAY + 3]);
    assert_eq!(files(data.path()), vec!["2026-12-02", "2026-12-03", "2026-12-04", "2026-12-05"]);
    assert_eq!(keyer_a.salts().get(DAY), salts.get(DAY), "kept days keep their salt");
    assert_eq!(keyer_a.salts().get(DAY - 1), None);
    // The other keeper forgets them at its next refresh, without deleting anything again.
    let done = keeper_b.refresh().await.expect("refresh");
    assert_eq!(done, Refreshed::default());
    assert_eq!(keyer_b.salts(), keyer_a.salts());
}

#[tokio::test]
async fn racing_proposals_converge_on_the_first() {
    let data = tempfile::tempdir().expect("tempdir");
    let book = DirSaltBook::in_data_dir(data.path()).expect("book");
    book.propose(DAY, [1; 16]).await.expect("first");
    book.propose(DAY, [2; 16]).await.expect("second, ignored");
    assert_eq!(book.read().await.expect("read"), vec![(DAY, [1; 16])]);
    book.delete(DAY).await.expect("delete");
    book.delete(DAY).await.expect("deleting twice is fine");
    assert_eq!(book.read().await.expect("read"), vec![]);
    assert!(files(data.path()).is_empty(), "no temporary file is left behind");
}

#[tokio::test]
async fn a_lost_book_gets_the_salts_in_use_back() {
    let data = tempfile::tempdir().expect("tempdir");
    let now = Arc::new(AtomicI64::new(DAY * DAY_MS + 12 * HOUR));
    let (keeper, keyer) = keeper(data.path(), &now);
    keeper.refresh().await.expect("refresh");
    let before = keyer.salts();
    std::fs::remove_dir_all(data.path().join(DIR_NAME)).expect("lose the book");
    std::fs::create_dir(data.path().join(DIR_NAME)).expect("an empty book");
    keeper.refresh().await.expect("refresh");
    assert_eq!(keyer.salts(), before, "the running collector's salts are written back");
}

#[cfg(unix)]
#[tokio::test]
async fn the_book_is_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path().join(DIR_NAME);
    std::fs::create_dir(&dir).expect("dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let now = Arc::new(AtomicI64::new(DAY * DAY_MS));
    let (keeper, _) = keeper(data.path(), &now);
    keeper.refresh().await.expect("refresh");
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for name in files(data.path()) {
        assert_eq!(mode(&dir.join(&name)), 0o600, "{name}");
    }
}

/// Handlers when a day's salt is missing: 503 with `Retry-After`, nothing keyed otherwise.
mod missing {
    use crate::test_support::Capture;
    use crate::{Collector, CollectorConfig};
    use axum::body::{Body, to_bytes};
    use axum::extract::connect_info::MockConnectInfo;
    use axum::http::{Request, StatusCode, header};
    use engage_model::time::DAY_MS;
    use engage_model::viewer::ViewerKeyer;
    use engage_model::viewer::salts::DaySalts;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use tower::ServiceExt;

    const DAY: i64 = 20_789;
    const HOUR: i64 = 3_600_000;

    /// A collector at `now` that knows only the salt of `DAY`.
    fn app(p: Arc<Capture>, now: i64) -> axum::Router {
        let mut salts = DaySalts::new();
        salts.adopt(DAY, [3; 16]);
        // Logs from loopback need no token (as in `engage run` without log tokens).
        let config =
            CollectorConfig { log_access: crate::cdn_logs::access::LogAccess::Loopback, ..CollectorConfig::default() };
        let c = Collector::new(p, ViewerKeyer::new(salts), config, Arc::new(move || now));
        c.router().layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))))
    }

    async fn send(router: axum::Router, req: Request<Body>) -> (StatusCode, Option<String>, String) {
        let resp = router.oneshot(req).await.expect("response");
        let status = resp.status();
        let retry = resp.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap_or("?").to_owned());
        let body = to_bytes(resp.into_body(), 1 << 20).await.expect("body");
        (status, retry, String::from_utf8_lossy(&body).into_owned())
    }

    fn get(uri: &str) -> Request<Body> {
        Request::get(uri).header("user-agent", "ua").body(Body::empty()).expect("request")
    }

    #[tokio::test]
    async fn a_pingback_without_its_salts_is_503_and_not_published() {
        let p = Arc::new(Capture::default());
        let noon = DAY * DAY_MS + 12 * HOUR;
        let uri = "/ping/dot.gif?item=X&ts=5&progress=0&event=firstplay";
        assert_eq!(send(app(p.clone(), noon), get(uri)).await.0, StatusCode::OK);
        assert_eq!(send(app(p.clone(), noon), get("/readyz")).await.0, StatusCode::OK);
        // At 01:00 the previous day's key is needed too, and that salt is not known.
        let (status, retry, _) = send(app(p.clone(), DAY * DAY_MS + HOUR), get(uri)).await;
        assert_eq!((status, retry.as_deref()), (StatusCode::SERVICE_UNAVAILABLE, Some("1")));
        // The next day: no salt at all, not ready.
        let tomorrow = (DAY + 1) * DAY_MS + 12 * HOUR;
        assert_eq!(send(app(p.clone(), tomorrow), get(uri)).await.0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(send(app(p.clone(), tomorrow), get("/readyz")).await.0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(p.records.lock().expect("lock").len(), 1, "only the keyed pingback");
    }

    #[tokio::test]
    async fn a_log_line_without_its_salt_stops_the_request_where_to_resume() {
        let p = Arc::new(Capture::default());
        let now = (DAY + 1) * DAY_MS + 12 * HOUR - 60_000; // 11:59 of DAY + 1: its salt is missing
        let line = |time: &str| {
            format!(
                r#"192.0.2.7 - - [{time} +0000] "GET /ping/dot.gif?item=X&ts=5&progress=0&event=firstplay HTTP/1.1" 200 43 "-" "ua""#
            )
        };
        let body = format!(
            "{}\n{}\n{}\n",
            line("02/Dec/2026:14:00:00"),
            line("03/Dec/2026:10:00:00"),
            line("02/Dec/2026:15:00:00")
        );
        let req = Request::post("/v1/cdn-logs?format=ncsa").body(Body::from(body)).expect("request");
        let (status, retry, body) = send(app(p.clone(), now), req).await;
        assert_eq!((status, retry.as_deref()), (StatusCode::SERVICE_UNAVAILABLE, Some("1")), "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!((answer["accepted"].as_u64(), answer["resume_at_line"].as_u64()), (Some(1), Some(1)), "{body}");
        assert_eq!(p.records.lock().expect("lock").len(), 1, "the line before was published, none after");
    }

    #[tokio::test]
    async fn a_segment_batch_with_a_call_without_its_salt_is_retried_whole() {
        let p = Arc::new(Capture::default());
        let now = DAY * DAY_MS + 12 * HOUR;
        let call = |ts: &str| serde_json::json!({"type": "track", "event": "x", "userId": "u", "timestamp": ts});
        let batch = serde_json::json!({"batch": [call("2026-12-02T11:00:00Z"), call("2026-12-01T20:00:00Z")]});
        let req = Request::post("/v1/batch")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(batch.to_string()))
            .expect("request");
        let (status, retry, body) = send(app(p.clone(), now), req).await;
        assert_eq!((status, retry.as_deref()), (StatusCode::SERVICE_UNAVAILABLE, Some("1")), "{body}");
        assert!(p.records.lock().expect("lock").is_empty(), "nothing of the batch was published");
        let single = call("2026-12-01T20:00:00Z").to_string();
        let req = Request::post("/v1/track").body(Body::from(single)).expect("request");
        assert_eq!(send(app(p.clone(), now), req).await.0, StatusCode::SERVICE_UNAVAILABLE);
    }
}
