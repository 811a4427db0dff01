//! The database file is private: created 0600 before SQLite opens it (SQLite then gives its
//! `-wal` and `-shm` files the database file's mode), and an existing one and its companions
//! brought to 0600 when opened, whatever the umask. Missing parent directories are made 0700.
//! The embedded log holds every accepted event before the consumer reads it, and the SQLite
//! store (which calls this too) viewing behaviour and raw analytics calls: only the
//! process's user may read either.

use std::io;
use std::path::{Path, PathBuf};

/// Prepares `path` for [`rusqlite::Connection::open`]; says which path failed.
pub fn prepare_private_sqlite_file(path: &Path) -> Result<(), (PathBuf, io::Error)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| (dir.to_path_buf(), e))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path).map_err(|e| (path.to_path_buf(), e))?;
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = PathBuf::from(file);
        match std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err((file, e)),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use crate::{EmbeddedLog, EmbeddedLogConfig};
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0)
    }

    #[tokio::test]
    async fn the_log_and_its_wal_and_shm_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new").join("bus.sqlite3");
        let old = dir.path().join("old.sqlite3");
        std::fs::write(&old, b"").expect("an empty older file");
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let log = EmbeddedLog::open(&path, EmbeddedLogConfig::default()).expect("open");
        let older = EmbeddedLog::open(&old, EmbeddedLogConfig::default()).expect("open the older file");
        for suffix in ["", "-wal", "-shm"] {
            let file = dir.path().join("new").join(format!("bus.sqlite3{suffix}"));
            assert!(file.exists(), "{} exists while the log is open", file.display());
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        assert_eq!(mode(&dir.path().join("new")), 0o700);
        assert_eq!(mode(&old), 0o600, "an older world-readable log is made private");
        log.close().await;
        older.close().await;
    }
}
