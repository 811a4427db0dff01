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
