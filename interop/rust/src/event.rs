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
pub fn descriptor_size_align(descriptor: &str) -> Result<(u32, u32)> {
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

/// The conformance event of the cross-language suite (conformance/PROTOCOL.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConformanceEvent {
    /// k, the producer's event number.
    pub seq: u64,
    /// p, the producer id.
    pub producer: u64,
    /// FNV-1a 64 over bytes 0..15 then 24..63.
    pub checksum: u64,
    /// Byte i is (k*31 + p*7 + i) mod 256.
    pub payload: [u8; 40],
}

impl ConformanceEvent {
    /// The k-th event of producer p.
    pub fn new(k: u64, p: u64) -> Self {
        let mut payload = [0u8; 40];
        for (i, b) in payload.iter_mut().enumerate() {
            *b = (k
                .wrapping_mul(31)
                .wrapping_add(p.wrapping_mul(7))
                .wrapping_add(i as u64)
                % 256) as u8;
        }
        let mut e = ConformanceEvent {
            seq: k,
            producer: p,
            checksum: 0,
            payload,
        };
        e.checksum = e.compute_checksum();
        e
    }

    /// The checksum the event's other fields call for.
    pub fn compute_checksum(&self) -> u64 {
        let mut head = [0u8; 16];
        head[..8].copy_from_slice(&self.seq.to_le_bytes());
        head[8..].copy_from_slice(&self.producer.to_le_bytes());
        crate::naming::fnv1a64_continue(fnv1a64(&head), &self.payload)
    }

    /// Whether checksum and payload are what `new(seq, producer)` makes.
    pub fn is_intact(&self) -> bool {
        *self == ConformanceEvent::new(self.seq, self.producer)
    }
}

impl Event for ConformanceEvent {
    const DESCRIPTOR: &'static str = "struct{u64@0,u64@8,u64@16,[40]u8@24}:64:8";
    const TYPE_NAME: &'static str = "ringwire.conformance.v1";
    fn encode(&self, out: &mut [u8]) {
        out[0..8].copy_from_slice(&self.seq.to_le_bytes());
        out[8..16].copy_from_slice(&self.producer.to_le_bytes());
        out[16..24].copy_from_slice(&self.checksum.to_le_bytes());
        out[24..64].copy_from_slice(&self.payload);
    }
    fn decode(b: &[u8]) -> Self {
        let u = |r: std::ops::Range<usize>| u64::from_le_bytes(b[r].try_into().expect("8"));
        ConformanceEvent {
            seq: u(0..8),
            producer: u(8..16),
            checksum: u(16..24),
            payload: b[24..64].try_into().expect("40"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance_event_type() {
        let t = EventType::of::<ConformanceEvent>().unwrap();
        assert_eq!(
            (t.size, t.align, t.fingerprint),
            (64, 8, 0x8463_538f_6767_97d7)
        );
        assert_eq!(
            EventType::of::<u64>().unwrap().fingerprint,
            0x43c1_8149_e428_90e2
        );
    }

    #[test]
    fn conformance_event_roundtrip_and_checksum() {
        let e = ConformanceEvent::new(1000, 3);
        let mut b = [0u8; 64];
        e.encode(&mut b);
        assert_eq!(b[24], ((1000 * 31 + 21) % 256) as u8);
        let mut cs = fnv1a64(&b[..16]);
        cs = crate::naming::fnv1a64_continue(cs, &b[24..]);
        assert_eq!(cs, u64::from_le_bytes(b[16..24].try_into().unwrap()));
        let d = ConformanceEvent::decode(&b);
        assert!(d.is_intact());
        b[30] ^= 1;
        assert!(!ConformanceEvent::decode(&b).is_intact());
    }
}
