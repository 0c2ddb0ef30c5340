//! Fixtures of the conformance suite (conformance/PROTOCOL.md), behind the non-default feature
//! `conformance`: the conformance event, the golden segment images and their masking. The
//! conformer binary and the crate's own tests use them; they are not part of the API.

use crate::event::Event;
use crate::naming::{fnv1a64, fnv1a64_continue};

pub mod golden;

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
        fnv1a64_continue(fnv1a64(&head), &self.payload)
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
    use crate::event::EventType;

    #[test]
    fn conformance_event_type() {
        let t = EventType::of::<ConformanceEvent>().unwrap();
        assert_eq!(
            (t.size, t.align, t.fingerprint),
            (64, 8, 0x8463_538f_6767_97d7)
        );
    }

    #[test]
    fn conformance_event_roundtrip_and_checksum() {
        let e = ConformanceEvent::new(1000, 3);
        let mut b = [0u8; 64];
        e.encode(&mut b);
        assert_eq!(b[24], ((1000 * 31 + 21) % 256) as u8);
        let cs = fnv1a64_continue(fnv1a64(&b[..16]), &b[24..]);
        assert_eq!(cs, u64::from_le_bytes(b[16..24].try_into().unwrap()));
        let d = ConformanceEvent::decode(&b);
        assert!(d.is_intact());
        b[30] ^= 1;
        assert!(!ConformanceEvent::decode(&b).is_intact());
    }
}
