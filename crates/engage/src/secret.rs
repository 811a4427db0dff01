//! The viewer-key secret: from the flag, or generated once and kept in the data directory
//! (mode 0600), so viewer keys stay stable across restarts of `engage run`.

use anyhow::{Context, bail};
use std::path::Path;

const FILE: &str = "viewer-secret";

pub fn load_or_create(flag: Option<&str>, data_dir: &Path) -> anyhow::Result<[u8; 16]> {
    if let Some(hex) = flag {
        return parse_hex(hex.trim()).context("--viewer-secret / ENGAGE_VIEWER_SECRET must be 32 hex digits");
    }
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) => parse_hex(s.trim()).with_context(|| format!("{} is not 32 hex digits", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; 16];
            getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness for the viewer secret: {e}"))?;
            let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            write_private(&path, &hex).with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a viewer-key secret");
            Ok(secret)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Parses a secret given as 32 hex digits.
pub fn parse(s: &str) -> anyhow::Result<[u8; 16]> {
    parse_hex(s.trim())
}

fn parse_hex(s: &str) -> anyhow::Result<[u8; 16]> {
    if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("expected 32 hex digits");
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)?;
    }
    Ok(out)
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(content.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_stable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = load_or_create(None, dir.path()).expect("created");
        let b = load_or_create(None, dir.path()).expect("loaded");
        assert_eq!(a, b);
        let flag = load_or_create(Some("000102030405060708090a0b0c0d0e0f"), dir.path()).expect("flag");
        assert_eq!(flag[15], 15);
        assert!(load_or_create(Some("nothex"), dir.path()).is_err());
    }
}
