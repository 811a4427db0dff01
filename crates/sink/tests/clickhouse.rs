//! The ClickHouse store against a real ClickHouse engine: `CLICKHOUSE_URL` when set, else
//! the chDB HTTP front of `tests/clickhouse/` (started once for this binary). Every test
//! works in a database of its own.
//!
//! What must hold: migrations are idempotent (twice, and from two clients at once); the
//! same batches give the same answers as SQLite for every read method; the laws of rows
//! that sum (`laws`, shared with `tests/sqlite.rs`); a database written before generations
//! answers the same once migrated (`migration`); replays and zombie writes change nothing;
//! a ClickHouse that goes away makes commits fail as retryable and they succeed, exactly,
//! once it is back; a missing or wrong schema fails clearly.

mod clickhouse_support;
mod laws;
mod migration;
#[path = "clickhouse_support/workload.rs"]
mod workload;

use clickhouse_support::{Front, fresh_database, shared_url};
use engage_model::rollup::{VideoCounters, VideoWindow};
use engage_sink::clickhouse::RetryPolicy;
use engage_sink::clickhouse::schema::{self, MigrateOptions, SCHEMA_VERSION};
use engage_sink::{
    ClickHouseConfig, ClickHouseStore, CommitBatch, ItemQuery, SqliteStore, Store, StoreError, TimeRange,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use workload::{APPS, ITEMS, MINUTE, t0};

fn config(test: &str) -> ClickHouseConfig {
    ClickHouseConfig { database: fresh_database(test), ..ClickHouseConfig::new(shared_url()) }
}

async fn migrated(test: &str) -> (ClickHouseStore, ClickHouseConfig) {
    let config = config(test);
    ClickHouseStore::migrate(&config, MigrateOptions::default()).await.expect("migrate");
    (ClickHouseStore::connect(config.clone()).await.expect("connect"), config)
}

fn raw(config: &ClickHouseConfig) -> clickhouse::Client {
    clickhouse::Client::default().with_url(&config.url).with_database(&config.database)
}

/// A query's result as TSV text.
async fn tsv(config: &ClickHouseConfig, sql: &str) -> String {
    let bytes = raw(config).query(sql).fetch_bytes("TabSeparated").expect("query").collect().await;
    String::from_utf8(bytes.unwrap_or_else(|e| panic!("{sql}: {e}")).to_vec()).expect("utf-8")
}

/// What a migration can change: every table and view (definitions, engines) and the
/// recorded versions, with their timestamps.
async fn schema_state(config: &ClickHouseConfig) -> String {
    let db = &config.database;
    let tables = tsv(
        config,
        &format!(
            "SELECT name, engine, engine_full, create_table_query, metadata_modification_time
             FROM system.tables WHERE database = '{db}' ORDER BY name"
        ),
    )
    .await;
    let versions = tsv(config, "SELECT version, name, applied_at FROM schema_migrations FINAL ORDER BY version").await;
    format!("{tables}\n--\n{versions}")
}

fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("engage.sqlite3")).expect("open sqlite");
    (dir, store)
}

#[tokio::test]
async fn migrations_apply_from_scratch_and_again_change_nothing() {
    let config = config("migrate_twice");
    let first = ClickHouseStore::migrate(&config, MigrateOptions::default()).await.expect("first run");
    assert_eq!(first.applied, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    assert_eq!(first.version, SCHEMA_VERSION);
    let before = schema_state(&config).await;
    let names: Vec<String> =
        tsv(&config, &format!("SELECT name FROM system.tables WHERE database = '{}' ORDER BY name", config.database))
            .await
            .lines()
            .map(str::to_owned)
            .collect();
    let mut expected = schema::created_names();
    expected.sort();
    assert_eq!(names, expected, "the database holds exactly what the migrations create");

    let second = ClickHouseStore::migrate(&config, MigrateOptions::default()).await.expect("second run");
    assert_eq!(second.applied, Vec::<u32>::new());
    assert_eq!(second.ttl_changed, Vec::<String>::new());
    assert_eq!(schema_state(&config).await, before, "a second run changes nothing");
    let store = ClickHouseStore::connect(config).await.expect("connect after migrating");
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
}

/// Table and view definitions, with the database name blanked out.
async fn definitions(c: &ClickHouseConfig) -> String {
    let sql = format!(
        "SELECT name, engine_full, replaceAll(create_table_query, '{db}.', 'DB.') FROM system.tables
         WHERE database = '{db}' ORDER BY name",
        db = c.database
    );
    tsv(c, &sql).await
}

async fn ttl_of(c: &ClickHouseConfig, table: &str) -> String {
    tsv(c, &format!("SELECT engine_full FROM system.tables WHERE database = '{}' AND name = '{table}'", c.database))
        .await
}

#[tokio::test]
async fn migrations_run_concurrently_from_two_clients() {
    let config = config("migrate_concurrently");
    let (a, b) = tokio::join!(
        ClickHouseStore::migrate(&config, MigrateOptions::default()),
        ClickHouseStore::migrate(&config, MigrateOptions::default()),
    );
    let (a, b) = (a.expect("client a"), b.expect("client b"));
    assert_eq!((a.version, b.version), (SCHEMA_VERSION, SCHEMA_VERSION));
    let versions = tsv(&config, "SELECT DISTINCT version FROM schema_migrations ORDER BY version").await;
    let expected: String = (1..=SCHEMA_VERSION).map(|v| format!("{v}\n")).collect();
    assert_eq!(versions, expected);
    // The result is the same schema a single run makes.
    let single = self::config("migrate_single");
    ClickHouseStore::migrate(&single, MigrateOptions::default()).await.expect("single run");
    assert_eq!(definitions(&config).await, definitions(&single).await);
    ClickHouseStore::connect(config).await.expect("connect");
}

#[tokio::test]
async fn the_raw_ttl_changes_only_when_asked() {
    let config = config("ttl");
    let report = ClickHouseStore::migrate(&config, MigrateOptions { raw_ttl_days: Some(7), traits_ttl_days: None })
        .await
        .unwrap();
    assert_eq!(report.ttl_changed, ["user_traits"], "raw tables created with the asked TTL, traits get theirs");
    assert!(ttl_of(&config, "user_traits").await.contains("toIntervalDay(395)"), "13 months by default");
    assert!(ttl_of(&config, "analytics_events").await.contains("toIntervalDay(7)"));
    let again = ClickHouseStore::migrate(&config, MigrateOptions { raw_ttl_days: Some(7), traits_ttl_days: None })
        .await
        .unwrap();
    assert_eq!(again.ttl_changed, Vec::<String>::new(), "same TTL: nothing to do");
    let unasked = ClickHouseStore::migrate(&config, MigrateOptions::default()).await.unwrap();
    assert_eq!(unasked.ttl_changed, Vec::<String>::new(), "no --raw-ttl-days keeps the TTL set");
    assert!(ttl_of(&config, "rejected").await.contains("toIntervalDay(7)"));
    let changed =
        ClickHouseStore::migrate(&config, MigrateOptions { raw_ttl_days: Some(30), traits_ttl_days: Some(30) })
            .await
            .unwrap();
    assert_eq!(changed.ttl_changed, ["analytics_events", "rejected", "user_traits"]);
    assert!(ttl_of(&config, "user_traits").await.contains("toIntervalDay(30)"));
    assert!(ttl_of(&config, "analytics_events").await.contains("toIntervalDay(30)"));
    let forever = ClickHouseStore::migrate(&config, MigrateOptions { raw_ttl_days: Some(0), traits_ttl_days: None })
        .await
        .unwrap();
    assert_eq!(forever.ttl_changed, ["analytics_events", "rejected"]);
    assert!(ttl_of(&config, "user_traits").await.contains("toIntervalDay(30)"), "kept when not asked");
    assert!(!ttl_of(&config, "rejected").await.contains("TTL"));
}

#[tokio::test]
async fn a_missing_or_wrong_schema_fails_clearly_naming_engage_migrate() {
    let config = config("schema_error");
    let err = ClickHouseStore::connect(config.clone()).await.expect_err("no database yet");
    assert!(matches!(err, StoreError::ClickHouseSchemaBehind { found: 0, .. }), "{err:?}");
    assert!(err.to_string().contains("run `engage migrate"), "{err}");
    assert!(!err.is_transient());

    // A store that skipped the check: its commit fails at once (no retries), clearly.
    let unchecked = ClickHouseStore::unchecked(config.clone());
    let started = Instant::now();
    let err = unchecked.commit(Arc::new(workload::batches(1, 1).remove(0))).await.expect_err("no tables");
    assert!(matches!(err, StoreError::ClickHouseSchema { .. }), "{err:?}");
    assert!(!err.is_transient(), "{err}");
    assert!(err.to_string().contains("engage migrate"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "not retried");

    // A table that lost a column: the insert is refused before any row is sent.
    ClickHouseStore::migrate(&config, MigrateOptions::default()).await.unwrap();
    raw(&config).query("ALTER TABLE video_window_rows DROP COLUMN pauses").execute().await.unwrap();
    let store = ClickHouseStore::connect(config.clone()).await.unwrap();
    let err = store.commit(Arc::new(workload::batches(1, 1).remove(0))).await.expect_err("a column is missing");
    assert!(matches!(err, StoreError::ClickHouseSchema { .. }), "{err:?}");
    assert!(err.to_string().contains("pauses") && err.to_string().contains("engage migrate"), "{err}");
    let q = ItemQuery { item: ITEMS[0].into(), app: None, range: TimeRange::ALL };
    let err = store.item_engagement(&q).await.expect_err("reads name the missing column too");
    assert!(matches!(err, StoreError::ClickHouseSchema { .. }), "{err:?}");
    assert!(store.checkpoint(0).await.unwrap().is_none(), "nothing was checkpointed");

    // A schema migrated by a newer engage: this build refuses it rather than guess.
    raw(&config).query("INSERT INTO schema_migrations (version, name) VALUES (99, 'future')").execute().await.unwrap();
    let err = ClickHouseStore::connect(config).await.expect_err("newer schema");
    assert!(matches!(err, StoreError::SchemaTooNew { found: 99, .. }), "{err:?}");
    assert!(err.to_string().contains("upgrade engage"), "{err}");
}

#[tokio::test]
async fn the_same_batches_give_the_same_answers_as_sqlite() {
    let (ch, _) = migrated("same_as_sqlite").await;
    let (_dir, lite) = sqlite();
    let batches = workload::batches(7, 24);
    let (regenerated, negative, weights, archived, unfinal) = workload::coverage(&batches);
    assert!(
        regenerated > 3 && negative > 3 && weights > 3 && archived > 3 && unfinal > 0,
        "the workload exercises late generations, retractions, archive and finality: \
         {regenerated} {negative} {weights} {archived} {unfinal}"
    );
    let mut compared = 0;
    let mut last = None;
    for (i, batch) in batches.into_iter().enumerate() {
        let batch = Arc::new(batch);
        ch.commit(Arc::clone(&batch)).await.expect("commit to ClickHouse");
        lite.commit(Arc::clone(&batch)).await.expect("commit to SQLite");
        if i == 3 {
            // a retried commit (the answer to the first one was lost)
            ch.commit(Arc::clone(&batch)).await.unwrap();
            lite.commit(batch).await.unwrap();
        }
        if i == 23 {
            let expected = workload::answers(&lite).await.expect("SQLite answers");
            let actual = workload::answers(&ch).await.expect("ClickHouse answers");
            workload::assert_same_answers(&expected, &actual, &format!("after batch {i}"));
            compared += expected.len();
            last = Some(actual);
        }
    }
    assert!(compared > 150, "{compared} answers compared");
    // The comparison can fail: a different workload gives different answers.
    let (_other_dir, other) = sqlite();
    for batch in workload::batches(8, 24) {
        other.commit(Arc::new(batch)).await.unwrap();
    }
    let a = workload::answers(&other).await.unwrap();
    let b = last.expect("compared");
    assert!(a.iter().any(|(k, v)| workload::first_difference(v, &b[k], k).is_some()), "negative control");
}

fn window(item: &str, start: i64, plays: i64, viewers: &[u64]) -> VideoWindow {
    VideoWindow {
        item: item.into(),
        app: APPS[0].into(),
        window_start_ms: start,
        window_end_ms: start + MINUTE,
        generation: 0,
        counters: VideoCounters { impressions: plays, plays, engaged_plays: plays, ..VideoCounters::default() },
        viewers: viewers.iter().map(|&v| (v, 1)).collect(),
    }
}

/// Equal JSON, or a failure naming the first difference.
fn assert_same(actual: &serde_json::Value, expected: &serde_json::Value, what: &str) {
    if let Some(diff) = workload::first_difference(actual, expected, "") {
        panic!("{what}: {diff} (actual vs expected)");
    }
}

#[tokio::test]
async fn replays_and_zombie_writes_change_nothing() {
    let (store, config) = migrated("idempotency").await;
    let item = "replayed";
    let engagement = || {
        let q = ItemQuery { item: item.into(), app: None, range: TimeRange::ALL };
        let store = &store;
        async move { serde_json::to_value(store.item_engagement(&q).await.unwrap()).unwrap() }
    };
    let batch = |offset: u64, plays: i64, viewers: &[u64]| {
        Arc::new(CommitBatch {
            next_offset: offset,
            snapshot: Some(offset.to_le_bytes().to_vec()),
            windows: vec![window(item, t0(), plays, viewers), window(item, t0() + MINUTE, 1, &[9])],
            ..CommitBatch::default()
        })
    };
    store.commit(batch(100, 5, &[1, 2, 3])).await.unwrap();
    let written = engagement().await;
    assert_eq!((written["plays"].as_u64(), written["unique_viewers"].as_u64()), (Some(6), Some(4)));

    // The same batch twice (a retried insert after a lost answer).
    store.commit(batch(100, 5, &[1, 2, 3])).await.unwrap();
    assert_same(&engagement().await, &written, "the same batch again");
    // A replay of the window with an older state and a lower version (a zombie consumer,
    // or a replay that commits at an earlier offset): the newer state stays.
    store.commit(batch(50, 2, &[1])).await.unwrap();
    assert_same(&engagement().await, &written, "a lower version");
    assert_eq!(store.checkpoint(0).await.unwrap().unwrap().next_offset, 100, "the checkpoint does not go back");
    // Unmerged duplicates are really there: FINAL (not luck) makes the answers right.
    let rows = tsv(&config, &format!("SELECT count() FROM video_window_rows WHERE item = '{item}'")).await;
    let final_rows = tsv(&config, &format!("SELECT count() FROM video_window_rows FINAL WHERE item = '{item}'")).await;
    assert_eq!((rows.trim(), final_rows.trim()), ("6", "2"));
    // A newer version does change the numbers.
    store.commit(batch(150, 7, &[4])).await.unwrap();
    let newer = engagement().await;
    assert_eq!((newer["plays"].as_u64(), newer["unique_viewers"].as_u64()), (Some(8), Some(5)));
    assert_eq!(store.checkpoint(0).await.unwrap().unwrap().snapshot, 150u64.to_le_bytes());
    // After background merges the answers are the same.
    raw(&config).query("OPTIMIZE TABLE video_window_rows FINAL").execute().await.unwrap();
    raw(&config).query("OPTIMIZE TABLE video_viewer_weights FINAL").execute().await.unwrap();
    raw(&config).query("OPTIMIZE TABLE checkpoints FINAL").execute().await.unwrap();
    assert_same(&engagement().await, &newer, "after merges");
    assert_eq!(store.checkpoint(0).await.unwrap().unwrap().next_offset, 150);
}

#[tokio::test]
async fn several_partitions_commit_in_one_insert_per_table_with_their_own_versions() {
    let (store, config) = migrated("commit_all").await;
    let part = |partition: i32, item: &str, offset: u64, plays: i64, snapshot: bool| {
        Arc::new(CommitBatch {
            partition,
            next_offset: offset,
            snapshot: snapshot.then(|| offset.to_le_bytes().to_vec()),
            windows: vec![window(item, t0(), plays, &[u64::from(partition as u32) + 1])],
            ..CommitBatch::default()
        })
    };
    store.commit_all(&[part(0, "p0", 900, 3, true), part(1, "p1", 20, 5, false)]).await.unwrap();
    // One INSERT makes one part: both partitions' rows are in it.
    let parts = tsv(&config, "SELECT uniqExact(_part) FROM video_window_rows WHERE item IN ('p0', 'p1')").await;
    assert_eq!(parts.trim(), "1", "one INSERT for both partitions' windows");
    let plays = |item: &'static str| {
        let store = &store;
        async move {
            let q = ItemQuery { item: item.into(), app: None, range: TimeRange::ALL };
            store.item_engagement(&q).await.unwrap().plays
        }
    };
    assert_eq!((plays("p0").await, plays("p1").await), (3, 5));
    // Each row kept its own partition's version: p1's next write at 21 wins over 20,
    // although p0's rows in the same insert were at 900.
    store.commit_all(&[part(1, "p1", 21, 6, true)]).await.unwrap();
    assert_eq!(plays("p1").await, 6);
    assert_eq!(store.checkpoint(0).await.unwrap().unwrap().next_offset, 900);
    assert_eq!(store.checkpoint(1).await.unwrap().unwrap().next_offset, 21, "results-only batches keep no checkpoint");
}

#[tokio::test]
async fn commits_fail_as_retryable_while_clickhouse_is_down_and_succeed_exactly_after() {
    let dir = tempfile::tempdir().unwrap();
    // Its own front, even when CLICKHOUSE_URL names a server: this one gets killed.
    let mut front = Front::start(&dir.path().join("data"));
    let url = front.url.clone();
    let retry =
        RetryPolicy { attempts: 2, base_delay: Duration::from_millis(50), max_delay: Duration::from_millis(100) };
    let config = ClickHouseConfig { database: fresh_database("outage"), retry, ..ClickHouseConfig::new(url) };
    ClickHouseStore::migrate(&config, MigrateOptions::default()).await.unwrap();
    let store = ClickHouseStore::connect(config).await.unwrap();
    let (_lite_dir, lite) = sqlite();
    let batches: Vec<Arc<CommitBatch>> = workload::batches(3, 10).into_iter().map(Arc::new).collect();
    for b in &batches[..5] {
        store.commit(Arc::clone(b)).await.unwrap();
        lite.commit(Arc::clone(b)).await.unwrap();
    }

    front.kill();
    for b in &batches[5..7] {
        let err = store.commit(Arc::clone(b)).await.expect_err("ClickHouse is down");
        assert!(err.is_transient(), "retryable: {err}");
        assert!(matches!(err, StoreError::ClickHouseUnavailable { .. }), "{err:?}");
    }
    assert!(store.ping().await.is_err());

    front.restart();
    // The consumer retries the batch it could not write, then goes on.
    for b in &batches[5..] {
        store.commit(Arc::clone(b)).await.expect("commit after ClickHouse is back");
        lite.commit(Arc::clone(b)).await.unwrap();
    }
    store.ping().await.unwrap();
    let expected = workload::answers(&lite).await.unwrap();
    let actual = workload::answers(&store).await.unwrap();
    workload::assert_same_answers(&expected, &actual, "after the outage");
}

#[tokio::test]
async fn the_analyst_views_agree_with_the_store() {
    let (store, config) = migrated("views").await;
    for batch in workload::batches(11, 20) {
        store.commit(Arc::new(batch)).await.unwrap();
    }
    let item = ITEMS[0];
    let e = store.item_engagement(&ItemQuery { item: item.into(), app: None, range: TimeRange::ALL }).await.unwrap();
    assert!(e.plays > 0, "the workload plays {item}");

    let curve = tsv(
        &config,
        &format!(
            "SELECT watched FROM retention_curve(item = '{item}', from = '2000-01-01 00:00:00', to = '2100-01-01 00:00:00')"
        ),
    )
    .await;
    let curve: Vec<u64> = curve.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(curve, e.retention, "retention_curve");

    let by_app = tsv(
        &config,
        "SELECT app, plays, completions FROM completion_rate_by_app(from = '2000-01-01 00:00:00', to = '2100-01-01 00:00:00')",
    )
    .await;
    let mut expected_apps = std::collections::BTreeMap::<String, (u64, u64)>::new();
    for item in ITEMS {
        for a in store.item_apps(item, TimeRange::ALL).await.unwrap() {
            let slot = expected_apps.entry(a.app).or_default();
            slot.0 += a.plays;
            slot.1 += a.completions;
        }
    }
    let mut actual_apps = std::collections::BTreeMap::new();
    for line in by_app.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        actual_apps.insert(f[0].to_owned(), (f[1].parse::<u64>().unwrap(), f[2].parse::<u64>().unwrap()));
    }
    assert_eq!(actual_apps, expected_apps, "completion_rate_by_app");

    let mut active = std::collections::BTreeMap::<i64, u64>::new();
    for item in ITEMS {
        let e =
            store.item_engagement(&ItemQuery { item: (*item).into(), app: None, range: TimeRange::ALL }).await.unwrap();
        for p in e.timeline {
            *active.entry(p.window_start).or_default() += p.active_views;
        }
    }
    let timeline = tsv(
        &config,
        "SELECT toUnixTimestamp64Milli(window_start), active_views FROM concurrent_viewers ORDER BY window_start",
    )
    .await;
    let timeline: std::collections::BTreeMap<i64, u64> = timeline
        .lines()
        .map(|l| {
            let (a, b) = l.split_once('\t').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    assert_eq!(timeline, active, "concurrent_viewers");
    let finals = tsv(&config, "SELECT toUnixTimestamp64Milli(window_start), is_final FROM concurrent_viewers").await;
    let mut expected_finals = std::collections::BTreeMap::<i64, bool>::new();
    for item in ITEMS {
        let e =
            store.item_engagement(&ItemQuery { item: (*item).into(), app: None, range: TimeRange::ALL }).await.unwrap();
        for p in e.timeline {
            expected_finals.insert(p.window_start, p.is_final);
        }
    }
    let finals: std::collections::BTreeMap<i64, bool> = finals
        .lines()
        .map(|l| {
            let (a, b) = l.split_once('\t').unwrap();
            (a.parse().unwrap(), b == "true" || b == "1")
        })
        .collect();
    assert_eq!(finals, expected_finals, "concurrent_viewers is_final");
    assert!(finals.values().any(|f| *f) && finals.values().any(|f| !*f), "the workload has both");

    for item in ITEMS {
        let e =
            store.item_engagement(&ItemQuery { item: (*item).into(), app: None, range: TimeRange::ALL }).await.unwrap();
        let n = tsv(&config, &format!("SELECT uniqExact(viewer) FROM video_viewer_plays WHERE item = '{item}'")).await;
        assert_eq!(n.trim(), e.unique_viewers.to_string(), "video_viewer_plays of {item}");
    }

    for (source, id) in workload::SOURCES.iter().flat_map(|s| workload::SESSIONS.iter().map(move |id| (s, id))) {
        let found = store.session_engagement(id, Some(&[source.to_string()])).await.unwrap();
        let Some(s) = found.first() else { continue };
        let rows = tsv(
            &config,
            &format!("SELECT toUnixTimestamp64Milli(window_start), attendees FROM webinar_attendance WHERE session_id = '{id}' AND source = '{source}' ORDER BY window_start"),
        )
        .await;
        let expected: String = s.timeline.iter().map(|p| format!("{}\t{}\n", p.window_start, p.attendees)).collect();
        assert_eq!(rows, expected, "webinar_attendance of {id}");
        let summary = tsv(
            &config,
            &format!("SELECT unique_attendees, peak_concurrent FROM webinar_sessions WHERE session_id = '{id}' AND source = '{source}'"),
        )
        .await;
        assert_eq!(summary, format!("{}\t{}\n", s.unique_attendees, s.peak_concurrent), "webinar_sessions of {id}");
    }

    // Raw events: exactly one row per event id with FINAL; traits: the latest per user.
    let events = tsv(&config, "SELECT count(), uniqExact(event_id) FROM analytics_events FINAL").await;
    let (n, distinct) = events.trim().split_once('\t').unwrap();
    assert_eq!(n, distinct);
    let latest =
        tsv(&config, "SELECT source, user_key, traits FROM user_traits_latest ORDER BY source, user_key").await;
    let mut expected = std::collections::BTreeMap::<String, (i64, Vec<u8>, String)>::new();
    for b in workload::batches(11, 20) {
        for t in b.user_traits {
            let key = format!("{}\t{}", t.source, t.user_key);
            let slot = expected.entry(key).or_insert((i64::MIN, Vec::new(), String::new()));
            if (t.updated_at_ms, &t.event_id) > (slot.0, &slot.1) {
                *slot = (t.updated_at_ms, t.event_id, t.traits_json);
            }
        }
    }
    let expected: String = expected.iter().map(|(k, v)| format!("{k}\t{}\n", v.2)).collect();
    assert_eq!(latest, expected, "user_traits_latest");
}

/// Grafana's variables and the ClickHouse plugin's macros, expanded the way the plugin does
/// (`pkg/macros` of grafana/clickhouse-datasource) for a time range.
fn expand_grafana(sql: &str, from_ms: i64, to_ms: i64, database: &str, item: &str) -> String {
    let mut out = sql.replace("${database}", database).replace("${item}", item);
    let with_arg = |name: &str, column: &str| match name {
        "timeFilter_ms" => {
            format!("{column} >= fromUnixTimestamp64Milli({from_ms}) AND {column} <= fromUnixTimestamp64Milli({to_ms})")
        }
        "timeFilter" => {
            format!("{column} >= toDateTime({}) AND {column} <= toDateTime({})", from_ms / 1000, to_ms / 1000)
        }
        "timeInterval_ms" => format!("toStartOfInterval(toDateTime64({column}, 3), INTERVAL 60000 millisecond)"),
        "timeInterval" => format!("toStartOfInterval(toDateTime({column}), INTERVAL 60 second)"),
        other => panic!("unexpected macro $__{other}"),
    };
    while let Some(at) = out.find("$__") {
        let rest = &out[at + 3..];
        let name_len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let name = &rest[..name_len];
        let (replacement, len) = if rest[name_len..].starts_with('(') {
            let close = rest[name_len..].find(')').expect("closing parenthesis") + name_len;
            (with_arg(name, &rest[name_len + 1..close]), 3 + close + 1)
        } else {
            let plain = match name {
                "fromTime_ms" => format!("fromUnixTimestamp64Milli({from_ms})"),
                "toTime_ms" => format!("fromUnixTimestamp64Milli({to_ms})"),
                "fromTime" => format!("toDateTime({})", from_ms / 1000),
                "toTime" => format!("toDateTime({})", to_ms / 1000),
                "interval_s" => "60".to_owned(),
                other => panic!("unexpected macro $__{other}"),
            };
            (plain, 3 + name_len)
        };
        out.replace_range(at..at + len, &replacement);
    }
    assert!(!out.contains('$'), "an unexpanded variable in {out}");
    out
}

#[tokio::test]
async fn every_grafana_panel_and_documented_query_runs_on_the_schema() {
    let (store, config) = migrated("grafana").await;
    for batch in workload::batches(5, 16) {
        store.commit(Arc::new(batch)).await.unwrap();
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("deploy/grafana/engage.json")).unwrap()).unwrap();
    let (from, to) = (t0() - 60 * MINUTE, t0() + 60 * MINUTE);
    let item_sql = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "item")
        .and_then(|v| v["query"].as_str())
        .expect("the item variable");
    let items = tsv(&config, &expand_grafana(item_sql, from, to, &config.database, "")).await;
    let item = items.lines().next().expect("the item variable lists items").to_owned();
    let panels = dashboard["panels"].as_array().unwrap();
    let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for wanted in ["Top items", "Retention", "Exits", "Seek", "active viewers", "Per application", "Webinar attendees"]
    {
        assert!(titles.iter().any(|t| t.contains(wanted)), "no {wanted} panel in {titles:?}");
    }
    for panel in panels {
        for target in panel["targets"].as_array().unwrap() {
            let sql = expand_grafana(target["rawSql"].as_str().unwrap(), from, to, &config.database, &item);
            let rows = tsv(&config, &sql).await;
            assert!(!rows.is_empty(), "panel {} returns no rows for the workload:\n{sql}", panel["title"]);
        }
    }

    // The example queries of deploy/clickhouse/schema.md (before its generated SQL listing).
    let doc = std::fs::read_to_string(root.join("deploy/clickhouse/schema.md")).unwrap();
    let prose = &doc[..doc.find("<!-- BEGIN GENERATED").unwrap()];
    let mut ran = 0;
    for block in prose.split("```sql\n").skip(1) {
        let block = &block[..block.find("```").unwrap()];
        for statement in block.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
            let sql: String =
                statement.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
            let sql = sql.trim().trim_end_matches(';');
            if !sql.is_empty() {
                tsv(&config, sql).await;
                ran += 1;
            }
        }
    }
    assert!(ran >= 8, "{ran} documented queries ran");
}

#[tokio::test]
async fn the_laws_of_rows_that_sum_hold() {
    // One database per law: finality is one bound for the whole store.
    laws::generations_sum(&migrated("law_generations").await.0).await;
    laws::viewer_weights(&migrated("law_viewers").await.0).await;
    laws::replays_and_lower_versions_change_nothing(&migrated("law_replays").await.0).await;
    laws::archive_returns_every_version_at_or_below(&migrated("law_archive").await.0).await;
    laws::finality_follows_the_slowest_partition(&migrated("law_finality").await.0).await;
}

/// Runs one statement of the old schema (or of old rows) as the migrator does.
async fn exec(client: &clickhouse::Client, sql: &str) {
    client.query_raw(sql).execute().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// `[a, b, ...]`
fn array(values: &[u64]) -> String {
    format!("[{}]", values.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))
}

/// (f) A database of schema version 2 (before generations), built with the old migrations'
/// statements and filled the way the old writer did (rewrites not yet merged included),
/// answers the same once `engage migrate` applied version 3, and the same as SQLite.
#[tokio::test]
async fn migrating_an_old_database_keeps_its_answers() {
    use migration::{MINUTE as M, T0};
    let config = config("old_schema");
    let server = clickhouse::Client::default().with_url(&config.url);
    exec(&server, &format!("CREATE DATABASE {}", config.database)).await;
    let db = raw(&config);
    exec(&db, schema::MIGRATIONS_TABLE).await;
    for m in &schema::MIGRATIONS[..2] {
        for statement in m.statements {
            exec(&db, &schema::render(statement, schema::DEFAULT_RAW_TTL_DAYS)).await;
        }
        exec(&db, &format!("INSERT INTO schema_migrations (version, name) VALUES ({}, '{}')", m.version, m.name)).await;
    }
    let counters = migration::OLD_COUNTERS.join(", ");
    for w in migration::old_windows() {
        // An older version first (the old writer rewrote windows as they grew), then the row.
        for (version, scale) in [(w.version - 5, 0), (w.version, 1)] {
            let c: Vec<String> = w.counters.iter().map(|n| (n * scale).to_string()).collect();
            let sql = format!(
                "INSERT INTO video_windows (item, app, window_start, window_end, is_final, {counters},
                     retention, exits, seek_from, seek_to, version)
                 SELECT '{}', '{}', fromUnixTimestamp64Milli(toInt64({})), fromUnixTimestamp64Milli(toInt64({})), {},
                        {}, {}, {}, {}, {}, {version}",
                w.item,
                w.app,
                w.start(),
                w.start() + M,
                w.is_final,
                c.join(", "),
                array(&w.retention),
                array(&w.exits),
                array(&w.seek_from),
                array(&w.seek_to),
            );
            exec(&db, &sql).await;
        }
    }
    // Viewers were a set written once per new viewer; a replay wrote some twice.
    for _ in 0..2 {
        for (item, app, minute, viewer) in migration::old_viewers() {
            let start = T0 + minute * M;
            exec(
                &db,
                &format!(
                    "INSERT INTO video_viewers (item, app, window_start, viewer)
                     SELECT '{item}', '{app}', fromUnixTimestamp64Milli(toInt64({start})), toUInt64({viewer})"
                ),
            )
            .await;
        }
    }
    for (kind, name, minute, views, version) in migration::old_page_views() {
        let start = T0 + minute * M;
        exec(
            &db,
            &format!(
                "INSERT INTO page_views (kind, name, window_start, window_end, is_final, views, version)
                 SELECT '{kind}', '{name}', fromUnixTimestamp64Milli(toInt64({start})),
                        fromUnixTimestamp64Milli(toInt64({})), true, {views}, {version}",
                start + M
            ),
        )
        .await;
    }

    let report = ClickHouseStore::migrate(&config, MigrateOptions::default()).await.expect("migrate");
    assert_eq!(report.applied, (3..=SCHEMA_VERSION).collect::<Vec<_>>());
    let store = ClickHouseStore::connect(config.clone()).await.expect("connect");
    migration::assert_old_answers(&store).await;
    let (_dir, lite) = sqlite();
    lite.commit(migration::as_new_batch()).await.unwrap();
    let (migrated, expected) = (migration::answers(&store).await, migration::answers(&lite).await);
    for (question, answer) in &expected {
        if let Some(diff) = workload::first_difference(&migrated[question], answer, question) {
            panic!("migrated ClickHouse vs SQLite given the same windows: {diff}");
        }
    }
    let pages =
        tsv(&config, "SELECT name, partition_id, generation, views FROM page_view_rows FINAL ORDER BY name").await;
    assert_eq!(pages, "Home\t-1\t0\t7\nSettings\t-1\t0\t2\n");
    // The old tables stay, unwritten, and say so.
    let comment = tsv(
        &config,
        &format!("SELECT comment FROM system.tables WHERE database = '{}' AND name = 'video_windows'", config.database),
    )
    .await;
    assert!(comment.contains("no longer written"), "{comment}");

    // Running the copy again (a migrator that failed before recording version 3, or two at
    // once) changes no answer.
    for statement in schema::MIGRATIONS[2].statements {
        exec(&db, &schema::render(statement, schema::DEFAULT_RAW_TTL_DAYS)).await;
    }
    assert_eq!(migration::answers(&store).await, migrated, "the copy ran twice");
    migration::assert_new_generations_add_to_old_windows(&store).await;
}
