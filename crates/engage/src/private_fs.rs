//! The data directory is private: whatever engage creates under `--data-dir` (the SQLite store
//! and its `-wal`/`-shm` files, the embedded log, the viewer-key salts) is readable by the
//! process's user alone, directories 0700 and files 0600, whatever the umask.
//!
//! Each component creates its own files private from the start (the stores create their
//! database file 0600 before SQLite opens it, which then gives its `-wal` and `-shm` files the
//! same mode; the salt book writes 0600 files in a 0700 directory), and `main` sets the umask
//! to 0o077 besides. This module makes the directory itself, and at start brings what older
//! versions left (0644 files, 0755 directories) down to the same modes.

use anyhow::Context;
use std::path::Path;

/// Creates `dir` (and missing parents) 0700, and makes an existing `dir` 0700.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    engage_collector::salts::dir::create_private_dir(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Sets every directory under `dir` (itself included) to 0700 and every file to 0600; logs
/// what it cannot change (it never follows symbolic links).
pub fn make_private(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut pending = vec![dir.to_path_buf()];
        while let Some(path) = pending.pop() {
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot inspect a data-dir entry");
                    continue;
                }
            };
            let wanted = if meta.is_dir() {
                match std::fs::read_dir(&path) {
                    Ok(entries) => pending.extend(entries.filter_map(|e| e.ok()).map(|e| e.path())),
                    Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot list a data-dir directory"),
                }
                0o700
            } else if meta.is_file() {
                0o600
            } else {
                continue; // a symbolic link or a special file: not ours to change
            };
            if meta.permissions().mode() & 0o777 != wanted {
                match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wanted)) {
                    Ok(()) => tracing::info!(path = %path.display(), mode = format!("{wanted:o}"), "made private"),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot make a data-dir entry private")
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Sets the process's file-creation mask to 0o077: whatever engage creates is private to its
/// user, a second line behind the explicit modes above.
pub fn restrict_umask() {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}
