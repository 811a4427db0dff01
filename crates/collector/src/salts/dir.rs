//! The salt book of `engage run`: a directory (`<data-dir>/viewer-salts/`), one file per day,
//! named `YYYY-MM-DD` and holding the salt as 32 hex digits.
//!
//! The directory is 0700 and each file 0600 whatever the umask, since a salt is what turns a
//! viewer key back into "this IP and user agent" for its day. A proposal is written whole to a
//! private temporary file and then hard-linked to the day's name, which fails when the name
//! exists: so the first proposal of a day wins, even between processes, and a reader never
//! sees half a salt. Deleting a day removes its file. Backing up the directory backs up the
//! salts (see SECURITY.md, "Viewers").
//!
//! The files are a few bytes, touched once a minute at most: plain blocking I/O on the
//! keeper's task is fine.

use engage_bus::{DaySalt, SaltBook, SaltBookError};
use engage_model::viewer::salts::{day_name, parse_day_name, parse_salt_hex, salt_hex};
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// The directory's name under the data dir.
pub const DIR_NAME: &str = "viewer-salts";

/// Day salts as files of a directory.
#[derive(Debug, Clone)]
pub struct DirSaltBook {
    dir: PathBuf,
}

impl DirSaltBook {
    /// Opens (creating, mode 0700) the book `dir`.
    pub fn open(dir: &Path) -> Result<Self, SaltBookError> {
        create_private_dir(dir).map_err(|source| SaltBookError::Io { path: dir.to_owned(), source })?;
        Ok(Self { dir: dir.to_owned() })
    }

    /// The book in a data directory.
    pub fn in_data_dir(data_dir: &Path) -> Result<Self, SaltBookError> {
        Self::open(&data_dir.join(DIR_NAME))
    }

    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> SaltBookError {
        let path = path.to_owned();
        move |source| SaltBookError::Io { path, source }
    }
}

#[async_trait::async_trait]
impl SaltBook for DirSaltBook {
    async fn read(&self) -> Result<Vec<DaySalt>, SaltBookError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(self.io(&self.dir))? {
            let entry = entry.map_err(self.io(&self.dir))?;
            let name = entry.file_name();
            let Some(day) = name.to_str().and_then(|n| parse_day_name(n).ok()) else {
                continue; // a temporary file, or something not ours
            };
            let path = entry.path();
            let text = match fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == ErrorKind::NotFound => continue, // deleted meanwhile
                Err(e) => return Err(self.io(&path)(e)),
            };
            match parse_salt_hex(&text) {
                Ok(salt) => out.push((day, salt)),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable salt file"),
            }
        }
        out.sort_unstable_by_key(|(day, _)| *day);
        Ok(out)
    }

    async fn propose(&self, day: i64, salt: [u8; 16]) -> Result<(), SaltBookError> {
        let target = self.dir.join(day_name(day));
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| SaltBookError::Unavailable(format!("no randomness: {e}")))?;
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let tmp = self.dir.join(format!(".{}.{nonce}.tmp", day_name(day)));
        let written = write_private_file(&tmp, format!("{}\n", salt_hex(&salt)).as_bytes());
        let linked = written.and_then(|()| match fs::hard_link(&tmp, &target) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()), // another proposal was first
            other => other,
        });
        let _ = fs::remove_file(&tmp);
        linked.map_err(self.io(&target))?;
        sync_dir(&self.dir).map_err(self.io(&self.dir))
    }

    async fn delete(&self, day: i64) -> Result<(), SaltBookError> {
        let path = self.dir.join(day_name(day));
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir).map_err(self.io(&self.dir)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(&path)(e)),
        }
    }
}

/// Creates `dir` (and missing parents) mode 0700, and makes an existing `dir` 0700.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    #[cfg(unix)]
    fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    Ok(())
}

/// Writes a new file, mode 0600 from its creation, and flushes it to disk.
fn write_private_file(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(content)?;
    file.sync_all()
}

/// Makes a directory's entries (a new or removed name) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
