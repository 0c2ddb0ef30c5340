//! Frames of a framed ring (spec section 11): the frame header of "Table: frame", the geometry a
//! framed ring's header records, and the validity rules of 11.1. Pure values: nothing here reads
//! or writes a segment (the segment reads and writes headers through [`FrameHeader::decode`] and
//! [`FrameHeader::encode`], the offsets are `layout`'s).

use crate::layout as l;
use crate::naming::fnv1a64;

/// The payload marker of the framed producer and consumer (their shared core is generic over
/// what a ring carries): variable-length messages, not events. Never constructed.
pub(crate) enum Frames {}

/// The header at the start of a frame's first slot (spec 11.1, "Table: frame"). A plain value,
/// safe to copy and share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameHeader {
    /// Bits 0-61: the frame's first sequence; bit 62: zero; bit 63: PAD.
    pub seq_flags: u64,
    /// Payload bytes of a message; 0 for a PAD.
    pub length: u32,
    /// Sequences (slots) the frame occupies, its first included.
    pub slots: u32,
}

impl FrameHeader {
    /// The header of a message of `length` bytes over `slots` slots at sequence `seq`.
    pub fn message(seq: u64, length: u32, slots: u32) -> FrameHeader {
        FrameHeader {
            seq_flags: seq & l::FRAME_SEQ_MASK,
            length,
            slots,
        }
    }

    /// The header of a padding frame of `slots` slots at sequence `seq`.
    pub fn pad(seq: u64, slots: u32) -> FrameHeader {
        FrameHeader {
            seq_flags: (seq & l::FRAME_SEQ_MASK) | l::FRAME_PAD,
            length: 0,
            slots,
        }
    }

    /// Whether it is a padding frame (bit 63).
    pub fn is_pad(&self) -> bool {
        self.seq_flags & l::FRAME_PAD != 0
    }

    /// The sequence the header names (bits 0-61).
    pub fn seq(&self) -> u64 {
        self.seq_flags & l::FRAME_SEQ_MASK
    }

    /// The header's 16 bytes, little-endian as "Table: frame" places them.
    pub fn encode(&self) -> [u8; l::FRAME_FIELDS_LEN] {
        let mut b = [0u8; l::FRAME_FIELDS_LEN];
        b[l::FRM_SEQ_FLAGS.offset..][..8].copy_from_slice(&self.seq_flags.to_le_bytes());
        b[l::FRM_LENGTH.offset..][..4].copy_from_slice(&self.length.to_le_bytes());
        b[l::FRM_SLOTS.offset..][..4].copy_from_slice(&self.slots.to_le_bytes());
        b
    }

    /// The header in the first 16 bytes of `b` (shorter input is a programming error: panics).
    pub fn decode(b: &[u8]) -> FrameHeader {
        let u32_at =
            |f: l::Field| u32::from_le_bytes(b[f.offset..f.offset + 4].try_into().unwrap());
        FrameHeader {
            seq_flags: u64::from_le_bytes(
                b[l::FRM_SEQ_FLAGS.offset..l::FRM_SEQ_FLAGS.offset + 8]
                    .try_into()
                    .unwrap(),
            ),
            length: u32_at(l::FRM_LENGTH),
            slots: u32_at(l::FRM_SLOTS),
        }
    }
}

/// What a framed ring's header says about its frames (spec 11.1), as check 14 of 5.2 accepted
/// it ([`crate::Segment::frame_geometry`]). A plain value, safe to copy and share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameGeometry {
    /// `frame_header_len` (`H`): where a payload starts in its frame's first slot.
    pub header_len: u32,
    /// `max_message` (`M`): the largest payload.
    pub max_message: u32,
    /// `slot_size`.
    pub slot_size: u32,
    /// `capacity`.
    pub capacity: u64,
}

impl FrameGeometry {
    /// Slots of a frame of a message of `len` payload bytes: `max(1, ceil((H + len) /
    /// slot_size))` (spec 11.2 step 2).
    pub fn slots_for(&self, len: u64) -> u64 {
        (u64::from(self.header_len) + len)
            .div_ceil(u64::from(self.slot_size))
            .max(1)
    }

    /// Slots of the largest message.
    pub fn max_slots(&self) -> u64 {
        self.slots_for(u64::from(self.max_message))
    }

    /// Spec 11.1, "valid": whether `h`, read at sequence `seq`, is a frame header there. `Err`
    /// names the rule that failed. Only compares numbers, so it is safe on any bytes; a header it
    /// accepts lies inside the slot array and holds at most `max_message` payload bytes.
    pub fn check(&self, seq: u64, h: &FrameHeader) -> Result<(), String> {
        let i = seq & (self.capacity - 1);
        // Rule 1.
        if h.seq() != seq & l::FRAME_SEQ_MASK || h.seq_flags & l::FRAME_RESERVED_BIT != 0 {
            return Err(format!(
                "rule 1: header names sequence {} (seq_flags 0x{:016x}: stale, or not a frame header)",
                h.seq(),
                h.seq_flags
            ));
        }
        // Rule 2.
        if h.slots < 1 || i + u64::from(h.slots) > self.capacity {
            return Err(format!(
                "rule 2: {} slots from slot {i} of {}",
                h.slots, self.capacity
            ));
        }
        // Rule 3.
        if h.is_pad() {
            if h.length != 0 {
                return Err(format!("rule 3: padding frame with length {}", h.length));
            }
        } else if h.length > self.max_message {
            return Err(format!(
                "rule 3: length {} over the largest message {}",
                h.length, self.max_message
            ));
        } else if u64::from(h.slots) != self.slots_for(u64::from(h.length)) {
            return Err(format!(
                "rule 3: {} slots for {} bytes (expected {})",
                h.slots,
                h.length,
                self.slots_for(u64::from(h.length))
            ));
        }
        Ok(())
    }
}

/// The string whose FNV-1a 64 is the `type_fingerprint` of a framed ring of messages of type
/// `type_name` (spec 11.1): `frames{` + `type_name` + `}`.
pub fn framed_descriptor(type_name: &[u8]) -> Vec<u8> {
    [b"frames{".as_slice(), type_name, b"}"].concat()
}

/// The `type_fingerprint` of a framed ring of messages of type `type_name` (spec 11.1).
pub fn framed_fingerprint(type_name: &[u8]) -> u64 {
    fnv1a64(&framed_descriptor(type_name))
}

/// The largest `max_message` a framed ring of `capacity` slots of `slot_size` bytes with frame
/// headers of `header_len` bytes may record: `(capacity / 8) * slot_size - header_len`, or 0.
pub fn largest_message(capacity: u64, slot_size: u32, header_len: u32) -> u64 {
    (capacity / 8 * u64::from(slot_size)).saturating_sub(u64::from(header_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_fingerprints_of_spec_11_1() {
        // The two rows the spec gives.
        assert_eq!(framed_fingerprint(b"bytes"), 0x242b_d99b_5cd3_d746);
        assert_eq!(
            framed_fingerprint(b"ringwire.conformance.frames.v1"),
            0x4712_148a_32a3_a16e
        );
        let spec = crate::layout::tests::spec();
        assert!(spec.contains("`frames{bytes}` gives `0x242bd99b5cd3d746`"));
    }

    #[test]
    fn header_roundtrip() {
        let h = FrameHeader::message(0x1234_5678_9abc, 100, 2);
        assert_eq!(FrameHeader::decode(&h.encode()), h);
        let p = FrameHeader::pad(15, 1);
        assert!(p.is_pad() && p.seq() == 15 && p.length == 0);
        assert_eq!(p.encode()[7], 0x80);
    }
}
