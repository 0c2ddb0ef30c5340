//! Fixtures of the conformance suite (conformance/PROTOCOL.md), behind the non-default feature
//! `conformance`: the conformance event, the golden segment images and their masking. The
//! conformer binary and the crate's own tests use them; they are not part of the API.

use crate::event::Event;
use crate::naming::{fnv1a64, fnv1a64_continue};

pub mod golden;

#[cfg(feature = "conformance")]
pub use crate::atomics::kill_self;

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

/// Type name of a conformance framed ring (conformance/PROTOCOL.md).
pub const FRAMED_TYPE_NAME: &str = "ringwire.conformance.frames.v1";

/// `F(k, p)` of conformance/PROTOCOL.md ("The framed conformance message"): the length of
/// message k of producer p on a ring whose `max_message` is `max_message` (at least 1).
pub fn framed_len(k: u64, p: u64, max_message: u32) -> usize {
    let m = u64::from(max_message.max(1));
    match k % 97 {
        1 => 1,
        2 => m as usize,
        _ => {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&k.to_le_bytes());
            b[8..].copy_from_slice(&p.to_le_bytes());
            (1 + fnv1a64(&b) % m) as usize
        }
    }
}

/// Writes the framed conformance message k of producer p into `out` (its length is the
/// message's): byte 0 = p, byte i = (k * 31 + p * 7 + i) mod 256 for i >= 1.
pub fn fill_framed(k: u64, p: u64, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        *b = if i == 0 {
            p as u8
        } else {
            (k.wrapping_mul(31)
                .wrapping_add(p.wrapping_mul(7))
                .wrapping_add(i as u64)
                % 256) as u8
        };
    }
}

/// The framed conformance message k of producer p, `len` bytes long.
pub fn framed_message(k: u64, p: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fill_framed(k, p, &mut v);
    v
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
    fn framed_conformance_message() {
        let m = 112;
        assert_eq!((framed_len(1, 0, m), framed_len(2, 0, m)), (1, 112));
        assert_eq!((framed_len(98, 3, m), framed_len(99, 3, m)), (1, 112));
        for k in 0..500 {
            assert!((1..=112).contains(&framed_len(k, k % 3, m)));
        }
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&5u64.to_le_bytes());
        b[8..].copy_from_slice(&2u64.to_le_bytes());
        assert_eq!(framed_len(5, 2, m) as u64, 1 + fnv1a64(&b) % 112);
        let msg = framed_message(3, 2, 5);
        assert_eq!(
            msg,
            [
                2,
                3 * 31 + 14 + 1,
                3 * 31 + 14 + 2,
                3 * 31 + 14 + 3,
                3 * 31 + 14 + 4
            ]
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
