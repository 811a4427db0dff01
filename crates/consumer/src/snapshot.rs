//! The saved consumer state: engine and repeat-suppression memory, behind a versioned header.
//!
//! postcard is compact but not self-describing: bytes written by a different layout decode
//! as garbage or fail obscurely. So every snapshot starts with a magic and a format version,
//! and a checkpoint of another version is refused with a message that says what to do,
//! instead of being misread. Bump [`FORMAT_VERSION`] whenever `Engine` or `Dedup` change
//! their serialized layout.

use crate::dedup::Dedup;
use crate::engine::Engine;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"ENGSTATE";
/// Version of the serialized layout of [`Engine`] and [`Dedup`]. Version 3: the engine
/// keeps view timelines (event sets) and window generations; versions 1 and 2 held views
/// as state machines and windows in full, and cannot be read into it. Version 4: webinar
/// and page-view state per source (tenant). Version 5: view timelines remember which events
/// a bot sent, and window counters hold bot impressions and plays. Version 6: the admitted
/// values of the capped dimensions (applications per item window, page names per window).
pub const FORMAT_VERSION: u16 = 6;

/// Why a saved state cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(
        "the saved consumer state has format version {found}, this build reads version {FORMAT_VERSION}; \
         run the build that wrote it to drain, or start from an empty data directory / consumer group"
    )]
    Version { found: u16 },
    #[error(
        "the saved consumer state has format version {found}, written by an older build; this build \
         (version {FORMAT_VERSION}) starts a fresh state at the saved position"
    )]
    Older { found: u16 },
    #[error(
        "the saved consumer state has no version header (written by an older build); start from an empty data directory"
    )]
    Unversioned,
    #[error("the saved consumer state is corrupt: {0}")]
    Corrupt(String),
}

#[derive(Serialize)]
struct StateRef<'a> {
    engine: &'a Engine,
    dedup: &'a Dedup,
}

#[derive(Deserialize)]
struct State {
    engine: Engine,
    dedup: Dedup,
}

/// Encodes the state with its header.
pub fn encode(engine: &Engine, dedup: &Dedup) -> Result<Vec<u8>, SnapshotError> {
    let mut out = Vec::with_capacity(1 << 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    postcard::to_io(&StateRef { engine, dedup }, &mut out).map_err(|e| SnapshotError::Corrupt(e.to_string()))?;
    Ok(out)
}

/// Decodes a state written by [`encode`] of the same format version.
pub fn decode(bytes: &[u8]) -> Result<(Engine, Dedup), SnapshotError> {
    let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Err(SnapshotError::Unversioned);
    };
    let (version, body) =
        rest.split_first_chunk::<2>().ok_or_else(|| SnapshotError::Corrupt("truncated header".into()))?;
    let found = u16::from_le_bytes(*version);
    if found < FORMAT_VERSION {
        return Err(SnapshotError::Older { found });
    }
    if found != FORMAT_VERSION {
        return Err(SnapshotError::Version { found });
    }
    let state: State = postcard::from_bytes(body).map_err(|e| SnapshotError::Corrupt(e.to_string()))?;
    Ok((state.engine, state.dedup))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::DedupConfig;
    use crate::engine::EngineConfig;

    #[test]
    fn round_trips_and_refuses_other_versions_clearly() {
        let engine = Engine::new(EngineConfig::default());
        let dedup = Dedup::new(DedupConfig::default());
        let bytes = encode(&engine, &dedup).expect("encodes");
        let (back, _) = decode(&bytes).expect("decodes");
        assert_eq!(back.config(), engine.config());

        let mut other = bytes.clone();
        other[MAGIC.len()..MAGIC.len() + 2].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let err = decode(&other).expect_err("other version");
        assert!(err.to_string().contains("empty data directory"), "{err}");
        other[MAGIC.len()..MAGIC.len() + 2].copy_from_slice(&(FORMAT_VERSION - 1).to_le_bytes());
        assert!(matches!(decode(&other), Err(SnapshotError::Older { found }) if found == FORMAT_VERSION - 1));
        assert!(matches!(decode(&bytes[MAGIC.len()..]), Err(SnapshotError::Unversioned)));
        assert!(matches!(decode(&bytes[..bytes.len() - 1]), Err(SnapshotError::Corrupt(_))));
        assert!(matches!(decode(&bytes[..MAGIC.len() + 1]), Err(SnapshotError::Corrupt(_))));
    }
}
