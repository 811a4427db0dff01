//! How values that SQLite has no type for are stored: count arrays and u64 keys.
//!
//! Count arrays (`retention`, `exits`, `seek_from`, `seek_to`) are mostly zeros, so each
//! is one BLOB: a format byte, the element count, then every element, all as LEB128
//! varints. A 101-slot array of small counts takes about 103 bytes (JSON would take twice
//! that and cost a parse on every read). Two formats:
//! - `2` (written now): elements are signed (a later generation of a window may retract
//!   what an earlier one counted), zigzag-encoded so small negatives stay one byte.
//! - `1` (written before schema version 4): unsigned elements. Rows migrated from before
//!   generations keep their blobs unchanged, so this format is still read.
//!
//! Decoding checks everything (format, varint bounds, count, trailing bytes) and returns
//! [`StoreError::Corrupt`] instead of panicking.

use crate::error::StoreError;

/// Format byte of the unsigned count arrays written before schema version 4.
const FORMAT_UNSIGNED: u8 = 1;
/// Format byte of the signed (zigzag) count arrays written since schema version 4.
const FORMAT_SIGNED: u8 = 2;
/// A u64 takes at most 10 LEB128 bytes.
const MAX_VARINT_BYTES: usize = 10;

/// Encodes a (signed) count array.
pub(crate) fn encode_counts(values: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + values.len());
    out.push(FORMAT_SIGNED);
    put_varint(&mut out, values.len() as u64);
    for &v in values {
        put_varint(&mut out, zigzag(v));
    }
    out
}

/// Decodes a count array that must have `expected_len` elements. `what` names the column.
pub(crate) fn decode_counts(what: &'static str, blob: &[u8], expected_len: usize) -> Result<Vec<i64>, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt { what, detail };
    let (&format, mut rest) = blob.split_first().ok_or_else(|| corrupt("empty blob".into()))?;
    if format != FORMAT_SIGNED && format != FORMAT_UNSIGNED {
        return Err(corrupt(format!("unknown format byte {format}")));
    }
    let count = take_varint(&mut rest).ok_or_else(|| corrupt("bad element count".into()))?;
    if count != expected_len as u64 {
        return Err(corrupt(format!("{count} elements, expected {expected_len}")));
    }
    let mut values = Vec::with_capacity(expected_len);
    for i in 0..expected_len {
        let v = take_varint(&mut rest).ok_or_else(|| corrupt(format!("bad varint at element {i}")))?;
        let v = if format == FORMAT_SIGNED {
            unzigzag(v)
        } else {
            i64::try_from(v).map_err(|_| corrupt(format!("element {i} = {v} is beyond a signed counter")))?
        };
        values.push(v);
    }
    if !rest.is_empty() {
        return Err(corrupt(format!("{} trailing bytes", rest.len())));
    }
    Ok(values)
}

/// Maps signed to unsigned so that small magnitudes stay small: 0, -1, 1, -2, ... → 0, 1, 2, 3, ...
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads one varint from the front of `buf`, advancing it; None when truncated or > u64.
fn take_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for (i, &byte) in buf.iter().enumerate().take(MAX_VARINT_BYTES) {
        let bits = u64::from(byte & 0x7f);
        if i == MAX_VARINT_BYTES - 1 && bits > 1 {
            return None; // more than 64 bits
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            *buf = &buf[i + 1..];
            return Some(value);
        }
    }
    None
}

/// Viewer keys are u64 hashes; SQLite integers are i64: store the same 64 bits.
pub(crate) fn viewer_to_sql(viewer: u64) -> i64 {
    i64::from_ne_bytes(viewer.to_ne_bytes())
}

/// A counter for an INTEGER column (counters never exceed i64::MAX in practice; refuse if so).
pub(crate) fn counter_to_sql(what: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange { what, value })
}

/// A counter read back from an INTEGER column; negative means a corrupt row.
pub(crate) fn counter_from_sql(what: &'static str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt { what, detail: format!("negative counter {value}") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zeros_are_compact() {
        let blob = encode_counts(&[0; 101]);
        assert_eq!(blob.len(), 1 + 1 + 101);
        assert_eq!(decode_counts("exits", &blob, 101).unwrap(), vec![0; 101]);
    }

    #[test]
    fn extremes_round_trip() {
        let values = [0, 1, -1, 63, -64, 64, 127, 128, 300, -300, i64::from(u32::MAX), i64::MAX, i64::MIN];
        let blob = encode_counts(&values);
        assert_eq!(decode_counts("x", &blob, values.len()).unwrap(), values);
        assert_eq!(encode_counts(&[-1, 1]), [FORMAT_SIGNED, 2, 1, 2], "small magnitudes take one byte");
    }

    #[test]
    fn unsigned_arrays_of_before_generations_are_read() {
        // What schema versions 1 to 3 wrote: format 1, unsigned varints.
        let legacy = [FORMAT_UNSIGNED, 3, 0, 0xac, 0x02, 1];
        assert_eq!(decode_counts("x", &legacy, 3).unwrap(), vec![0, 300, 1]);
        let beyond = [FORMAT_UNSIGNED, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(decode_counts("x", &beyond, 1).is_err(), "u64::MAX is no signed count");
    }

    #[test]
    fn corrupt_blobs_are_errors() {
        let good = encode_counts(&[1, 2, 3]);
        assert!(decode_counts("x", &[], 3).is_err());
        assert!(decode_counts("x", &[9, 3, 1, 2, 3], 3).is_err(), "unknown format");
        assert!(decode_counts("x", &good, 4).is_err(), "wrong count");
        assert!(decode_counts("x", &good[..good.len() - 1], 3).is_err(), "truncated");
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(decode_counts("x", &trailing, 3).is_err(), "trailing bytes");
        let overlong = [FORMAT_SIGNED, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(decode_counts("x", &overlong, 1).is_err(), "over 64 bits");
        let err = decode_counts("retention", &[], 100).unwrap_err();
        assert!(err.to_string().contains("retention"), "{err}");
    }

    #[test]
    fn viewer_keys_keep_all_bits() {
        for v in [0, 1, u64::MAX, 1 << 63] {
            let stored = viewer_to_sql(v);
            assert_eq!(u64::from_ne_bytes(stored.to_ne_bytes()), v);
        }
        assert!(counter_to_sql("plays", u64::MAX).is_err());
        assert!(counter_from_sql("plays", -1).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(values in proptest::collection::vec(any::<i64>(), 0..120)) {
            let blob = encode_counts(&values);
            prop_assert_eq!(decode_counts("x", &blob, values.len()).unwrap(), values);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), len in 0usize..8) {
            let _ = decode_counts("x", &bytes, len);
        }
    }
}
