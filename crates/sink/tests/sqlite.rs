//! The SQLite store against the laws of rows that sum (`laws`), each on a fresh database
//! file, and the migration of a database written before generations (`migration`).
//! `tests/clickhouse.rs` runs the same laws and migration checks on ClickHouse.

mod laws;
mod migration;

use engage_sink::{SqliteStore, Store};

fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("engage.sqlite3")).expect("open sqlite");
    (dir, store)
}

#[tokio::test]
async fn generations_sum() {
    let (_dir, store) = fresh();
    laws::generations_sum(&store).await;
}

#[tokio::test]
async fn viewer_weights() {
    let (_dir, store) = fresh();
    laws::viewer_weights(&store).await;
}

#[tokio::test]
async fn replays_and_lower_versions_change_nothing() {
    let (_dir, store) = fresh();
    laws::replays_and_lower_versions_change_nothing(&store).await;
}

#[tokio::test]
async fn archive_returns_every_version_at_or_below() {
    let (_dir, store) = fresh();
    laws::archive_returns_every_version_at_or_below(&store).await;
}

#[tokio::test]
async fn finality_follows_the_slowest_partition() {
    let (_dir, store) = fresh();
    laws::finality_follows_the_slowest_partition(&store).await;
}

/// (f) A database of schema version 3 (before generations), built with the old migrations
/// and filled the way the old writer did, answers the same after `open` migrates it.
#[tokio::test]
async fn migrating_an_old_database_keeps_its_answers() {
    use engage_sink::sqlite::schema::{MIGRATIONS, SCHEMA_VERSION};
    use migration::{MINUTE, T0, legacy_counts};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite3");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        for w in migration::old_windows() {
            let c = w.counters.map(|n| n as i64);
            conn.execute(
                &format!(
                    "INSERT INTO video_windows (item, app, window_start, window_end, is_final, {},
                         retention, exits, seek_from, seek_to, version)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                    migration::OLD_COUNTERS.join(", ")
                ),
                rusqlite::params![
                    w.item,
                    w.app,
                    w.start(),
                    w.start() + MINUTE,
                    w.is_final,
                    c[0],
                    c[1],
                    c[2],
                    c[3],
                    c[4],
                    c[5],
                    c[6],
                    c[7],
                    c[8],
                    legacy_counts(&w.retention),
                    legacy_counts(&w.exits),
                    legacy_counts(&w.seek_from),
                    legacy_counts(&w.seek_to),
                    w.version as i64,
                ],
            )
            .unwrap();
        }
        for (item, app, minute, viewer) in migration::old_viewers() {
            let viewer = i64::from_ne_bytes(viewer.to_ne_bytes());
            conn.execute(
                "INSERT INTO video_viewers (item, app, window_start, viewer) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![item, app, T0 + minute * MINUTE, viewer],
            )
            .unwrap();
        }
        for (kind, name, minute, views, version) in migration::old_page_views() {
            let start = T0 + minute * MINUTE;
            conn.execute(
                "INSERT INTO page_views (kind, name, window_start, window_end, is_final, views, version)
                 VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)",
                rusqlite::params![kind, name, start, start + MINUTE, views as i64, version as i64],
            )
            .unwrap();
        }
    }

    let store = SqliteStore::open(&path).expect("open migrates");
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    migration::assert_old_answers(&store).await;
    let (_new_dir, fresh) = fresh();
    fresh.commit(migration::as_new_batch()).await.unwrap();
    let (old, new) = (migration::answers(&store).await, migration::answers(&fresh).await);
    assert_eq!(old.len(), new.len());
    for (question, answer) in &old {
        assert_eq!(answer, &new[question], "{question}: migrated vs written as generation 0");
    }
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('video_windows', 'video_viewers', 'page_views')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(tables.is_empty(), "the old tables are gone: {tables:?}");
        let pages: Vec<(String, i64, i64, i64, i64)> = conn
            .prepare("SELECT name, window_start, partition_id, generation, views FROM page_view_rows ORDER BY name")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(pages, vec![("Home".into(), T0, -1, 0, 7), ("Settings".into(), T0 + MINUTE, -1, 0, 2)]);
    }
    migration::assert_new_generations_add_to_old_windows(&store).await;
    // Opening again changes nothing (the migration is recorded).
    drop(store);
    let again = SqliteStore::open(&path).unwrap();
    assert_eq!(
        again
            .item_engagement(&engage_sink::ItemQuery {
                item: "old-1".into(),
                app: None,
                range: engage_sink::TimeRange::ALL,
            })
            .await
            .unwrap()
            .plays,
        7
    );
}

/// A database of schema version 4 (before sources): its sessions and traits are read back
/// with source "" after `open` migrates it, only unscoped reads see them, and an erasure in
/// any source removes a person's rows written before sources too.
#[tokio::test]
async fn rows_written_before_sources_have_source_empty_and_are_erasable() {
    use engage_sink::Erasure;
    use engage_sink::sqlite::schema::MIGRATIONS;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.sqlite3");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..4] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 4).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO session_summaries (session_id, started_at, ended_at, unique_attendees, engaged_attendees,
                 attendance_ms, peak_concurrent, engagements, stream_ms, version)
             VALUES ('w-1', 0, NULL, 3, 1, 60000, 2, '{{}}', '{{}}', 5);
             INSERT INTO session_windows (session_id, window_start, window_end, is_final, joins, leaves, attendees,
                 peak_concurrent, engagements, stream_ms, version)
             VALUES ('w-1', 0, 60000, 1, 3, 0, 3, 2, '{{}}', '{{}}', 5);
             INSERT INTO user_traits (user_key, user_id, anonymous_id, traits, updated_at, event_id)
             VALUES ('u42', 'u42', '', '{{\"email\":\"old@example.com\"}}', {now}, x'01');
             INSERT INTO analytics_events (event_id, received_at, event_time, call, user_id, anonymous_id, name,
                 session_id, properties, traits, context, message_id, app)
             VALUES (x'02', {now}, {now}, 'identify', 'u42', '', '', '', '{{}}', '{{}}', '{{}}', 'm', '');"
        ))
        .unwrap();
    }
    let store = SqliteStore::open(&path).expect("open migrates");
    let found = store.session_engagement("w-1", None).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].source.as_str(), found[0].unique_attendees, found[0].timeline.len()), ("", 3, 1));
    let scoped = store.session_engagement("w-1", Some(&["acme".to_string()])).await.unwrap();
    assert!(scoped.is_empty(), "a scoped read does not see rows of no source");
    let erased = store.erase(&Erasure { source: "acme".into(), ids: vec!["u42".into()] }).await.unwrap();
    assert_eq!((erased.traits, erased.events), (1, 1));
}

/// Traits are per (source, user), and expire `--traits-ttl-days` after their last update.
#[tokio::test]
async fn traits_are_per_source_and_expire() {
    use engage_sink::{CommitBatch, UserTraits};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engage.sqlite3");
    let store = SqliteStore::open(&path).unwrap().with_traits_ttl_days(30);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let traits = |source: &str, user: &str, at: i64, plan: &str| UserTraits {
        source: source.into(),
        user_key: user.into(),
        user_id: user.into(),
        anonymous_id: String::new(),
        traits_json: format!("{{\"plan\":\"{plan}\"}}"),
        updated_at_ms: at,
        event_id: plan.as_bytes().to_vec(),
    };
    let batch = CommitBatch {
        next_offset: 1,
        user_traits: vec![
            traits("acme", "42", now, "pro"),
            traits("globex", "42", now, "free"),
            traits("acme", "7", now - 31 * 86_400_000, "stale"),
        ],
        ..CommitBatch::default()
    };
    store.commit(batch.into()).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let rows: Vec<(String, String, String)> = conn
        .prepare("SELECT source, user_key, traits FROM user_traits ORDER BY source, user_key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected = [("acme", "42", "{\"plan\":\"pro\"}"), ("globex", "42", "{\"plan\":\"free\"}")];
    assert_eq!(rows, expected.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())), "the stale one expired");
}
