//! Event types: the descriptor (spec section 7) and explicit little-endian encoding.

use crate::error::{Error, Result};
use crate::naming::fnv1a64;

/// A fixed-size event type that can be shared between processes and languages.
///
/// The wire form is fixed by `DESCRIPTOR` (spec section 7), not by Rust's layout of `Self`:
/// implementations write and read the bytes explicitly, little-endian, so no `unsafe` transmute is
/// needed and padding never leaks. The size and alignment are the descriptor's trailing
/// `:size:align`. A consumer or producer gets typed access only when the segment's `event_size`,
/// `event_align` and `type_fingerprint` equal this type's (spec 5.2 check 13).
pub trait Event: Copy + 'static {
    /// Canonical descriptor, e.g. `u64:8:8`.
    const DESCRIPTOR: &'static str;
    /// Informational name stored in the header's `type_name` (at most 64 bytes).
    const TYPE_NAME: &'static str;
    /// FNV-1a 64 of the descriptor.
    const FINGERPRINT: u64 = fnv1a64(Self::DESCRIPTOR.as_bytes());
    /// Writes the event's bytes; `out.len()` is the descriptor's size.
    fn encode(&self, out: &mut [u8]);
    /// Reads an event from its bytes; `bytes.len()` is the descriptor's size.
    fn decode(bytes: &[u8]) -> Self;
}

/// What a segment's header says about its events, or what a caller expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventType {
    /// `event_size`.
    pub size: u32,
    /// `event_align`.
    pub align: u32,
    /// `type_fingerprint`.
    pub fingerprint: u64,
    /// `type_name`.
    pub name: String,
}

impl EventType {
    /// The event type of `T`, from its descriptor.
    pub fn of<T: Event>() -> Result<EventType> {
        let (size, align) = descriptor_size_align(T::DESCRIPTOR)?;
        Ok(EventType {
            size,
            align,
            fingerprint: T::FINGERPRINT,
            name: T::TYPE_NAME.to_string(),
        })
    }
}

/// The trailing `:size:align` of a descriptor.
fn descriptor_size_align(descriptor: &str) -> Result<(u32, u32)> {
    let bad = || Error::InvalidArgument(format!("bad descriptor {descriptor:?}"));
    let mut it = descriptor.rsplitn(3, ':');
    let align: u32 = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let size: u32 = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    if it.next().is_none() || size == 0 || size > 65536 || !align.is_power_of_two() || align > 4096
    {
        return Err(bad());
    }
    Ok((size, align))
}

impl Event for u64 {
    const DESCRIPTOR: &'static str = "u64:8:8";
    const TYPE_NAME: &'static str = "u64";
    fn encode(&self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_le_bytes());
    }
    fn decode(bytes: &[u8]) -> Self {
        u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u64_event_type() {
        let t = EventType::of::<u64>().unwrap();
        assert_eq!(
            (t.size, t.align, t.fingerprint),
            (8, 8, 0x43c1_8149_e428_90e2)
        );
    }

    #[test]
    fn descriptors_end_in_size_and_align() {
        assert_eq!(
            descriptor_size_align("struct{u64@0}:64:8").unwrap(),
            (64, 8)
        );
        for bad in [
            "u64",
            "u64:8",
            "u64:0:8",
            "u64:8:3",
            "u64:8:8192",
            "u64:65537:8",
            "x:a:8",
        ] {
            assert!(descriptor_size_align(bad).is_err(), "{bad}");
        }
    }
}
