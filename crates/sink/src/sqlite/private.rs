//! The database file is private: [`engage_bus::prepare_private_sqlite_file`] (shared with the
//! embedded log) creates it 0600 before SQLite opens it, so its `-wal` and `-shm` files are
//! 0600 too, and brings an older one to 0600, whatever the umask. It holds viewing
//! behaviour, raw analytics calls and consumer checkpoints: only the process's user may read it.

#[cfg(all(test, unix))]
mod tests {
    use crate::sqlite::SqliteStore;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0)
    }

    #[test]
    fn the_database_and_its_wal_and_shm_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new").join("engage.sqlite3");
        let store = SqliteStore::open(&path).unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let file = dir.path().join("new").join(format!("engage.sqlite3{suffix}"));
            assert!(file.exists(), "{} exists while the store is open", file.display());
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        assert_eq!(mode(&dir.path().join("new")), 0o700, "a directory the store made");
        drop(store);
    }

    #[test]
    fn an_older_world_readable_database_is_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engage.sqlite3");
        drop(SqliteStore::open(&path).unwrap());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("engage.sqlite3-wal")), 0o600);
        drop(store);
    }
}
