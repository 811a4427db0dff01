//! String interning for item ids and application names.
//!
//! Views and windows are keyed by small integer ids instead of strings, so the hot path
//! hashes each string once per event (a lookup by `&str`, no allocation) and every other
//! key is a few plain integers. Ids are reclaimed by [`Interner::retain`], which the engine
//! runs now and then with the set of ids still referenced, so memory stays bounded by what
//! is open, not by every item ever seen.
//!
//! Ids are internal: nothing outside the engine sees them, and output is ordered by the
//! strings, so an engine restored from a snapshot may hand out different ids than an
//! uninterrupted one without any visible difference.
//!
//! The lookup map stores short strings (item ids, view ids, application names are almost
//! always short) inline in its buckets, so a lookup does not chase a pointer to compare.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use hashbrown::HashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Interned strings; `id -> string` and `string -> id`.
#[derive(Debug, Default)]
pub(super) struct Interner {
    /// `slots[id]`: the string of `id`, `None` for a free id.
    slots: Vec<Option<Box<str>>>,
    ids: HashMap<Key, u32>,
    /// Free ids, reused before the slot vector grows.
    free: Vec<u32>,
}

impl Interner {
    /// The id of `s`, interning it if needed.
    pub(super) fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s.as_bytes()) {
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(s.into());
                id
            }
            None => {
                let id = u32::try_from(self.slots.len()).expect("fewer than 2^32 live strings");
                self.slots.push(Some(s.into()));
                id
            }
        };
        self.ids.insert(Key::new(s), id);
        id
    }

    /// The id of `s` if it is interned.
    pub(super) fn lookup(&self, s: &str) -> Option<u32> {
        self.ids.get(s.as_bytes()).copied()
    }

    /// The string of a live id.
    ///
    /// # Panics
    /// If `id` is not live (an engine bug: every referenced id is kept by [`Self::retain`]).
    pub(super) fn get(&self, id: u32) -> &str {
        self.slots[id as usize].as_deref().expect("interned id is live")
    }

    /// Number of live strings.
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Upper bound (exclusive) of the ids handed out so far: the size of a marking vector.
    pub(super) fn id_bound(&self) -> usize {
        self.slots.len()
    }

    /// Frees every id whose `used[id]` is false.
    pub(super) fn retain(&mut self, used: &[bool]) {
        for (id, slot) in self.slots.iter_mut().enumerate() {
            if slot.is_some() && !used.get(id).copied().unwrap_or(false) {
                if let Some(s) = slot.take() {
                    self.ids.remove(s.as_bytes());
                }
                self.free.push(id as u32);
            }
        }
    }

    fn from_slots(slots: Vec<Option<Box<str>>>) -> Self {
        let mut ids = HashMap::with_capacity(slots.len());
        let mut free = Vec::new();
        for (id, slot) in slots.iter().enumerate().rev() {
            match slot {
                Some(s) => {
                    ids.insert(Key::new(s), id as u32);
                }
                None => free.push(id as u32),
            }
        }
        Self { slots, ids, free }
    }
}

/// Bytes of a UTF-8 string, inline up to [`INLINE`] bytes.
#[derive(Clone, Debug)]
enum Key {
    Inline { len: u8, bytes: [u8; INLINE] },
    Boxed(Box<[u8]>),
}

const INLINE: usize = 30;

impl Key {
    fn new(s: &str) -> Self {
        let b = s.as_bytes();
        if b.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..b.len()].copy_from_slice(b);
            Self::Inline { len: b.len() as u8, bytes }
        } else {
            Self::Boxed(b.into())
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Boxed(b) => b,
        }
    }
}

// Hash and equality are those of the bytes, so lookups by `&[u8]` find keys.
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

// Only the slots are stored: the reverse map and the free list are derived from them.
impl Serialize for Interner {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.slots.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Interner {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Option<Box<str>>>::deserialize(deserializer).map(Self::from_slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_reuses_and_frees() {
        let mut i = Interner::default();
        let a = i.intern("a");
        let b = i.intern("b");
        assert_eq!(i.intern("a"), a);
        assert_eq!(i.get(b), "b");
        let mut used = vec![false; i.id_bound()];
        used[b as usize] = true;
        i.retain(&used);
        assert_eq!(i.len(), 1);
        let c = i.intern("c");
        assert_eq!(c, a, "freed id is reused");
        assert_eq!(i.get(c), "c");
        assert_eq!(i.get(b), "b");
    }

    #[test]
    fn long_strings_are_boxed() {
        let mut i = Interner::default();
        let long = "x".repeat(200);
        let a = i.intern(&long);
        let b = i.intern(&long[..30]);
        let c = i.intern(&long[..31]);
        assert_eq!((i.intern(&long), i.intern(&long[..30]), i.intern(&long[..31])), (a, b, c));
        assert_eq!(i.len(), 3);
        assert!(matches!(Key::new(&long[..30]), Key::Inline { .. }));
        assert!(matches!(Key::new(&long[..31]), Key::Boxed(_)));
    }

    #[test]
    fn round_trips() {
        let mut i = Interner::default();
        for s in ["x", "y", "z"] {
            i.intern(s);
        }
        let mut used = vec![true; i.id_bound()];
        used[1] = false;
        i.retain(&used);
        let bytes = postcard::to_stdvec(&i).unwrap();
        let mut j: Interner = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(j.len(), 2);
        assert_eq!(j.get(0), "x");
        assert_eq!(j.get(2), "z");
        assert_eq!(j.intern("z"), 2);
        assert_eq!(j.intern("w"), 1, "free list rebuilt");
    }
}
