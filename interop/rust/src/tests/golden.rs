//! The golden images of the conformance scenarios (conformance/PROTOCOL.md): deterministic,
//! equal to the committed ones after masking, and masked exactly as
//! conformance/testdata/v2/masked.tsv says.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use super::spec_table;
use crate::conformance::golden::{self, Table};
use crate::error::Error;
use crate::layout as l;
use crate::segment::Segment;

/// conformance/testdata/v2/masked.tsv read at run time, as (table, field) rows.
fn masked_tsv() -> Vec<(String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../conformance/testdata/v2/masked.tsv"
    );
    let tsv = std::fs::read_to_string(path).expect("read masked.tsv");
    tsv.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (t, f) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            (t.to_string(), f.to_string())
        })
        .collect()
}

/// The bytes that masking must zero in `img`, from masked.tsv and the offsets of spec/LAYOUT.md's
/// tables (parsed from the spec, not this crate's constants): header fields at their offset,
/// entry and producer fields in every entry of their registry, as the image's header places
/// them.
fn bytes_to_mask(img: &[u8]) -> BTreeSet<usize> {
    let seg = Segment::from_image(img).unwrap();
    let g = seg.geometry();
    let mut out = BTreeSet::new();
    for (table, field) in masked_tsv() {
        let (_, off, size) = spec_table(&table)
            .into_iter()
            .find(|(name, _, _)| *name == field)
            .unwrap_or_else(|| panic!("masked.tsv: {table} has no field {field:?} in the spec"));
        let starts: Vec<u64> = match table.as_str() {
            "header" => vec![0],
            "entry" => (0..u64::from(g.registry_capacity))
                .map(|i| g.registry.offset + i * u64::from(g.registry_entry_size))
                .collect(),
            "producer" => (0..u64::from(g.producer_capacity))
                .map(|i| g.producers.offset + i * l::PRODUCER_ENTRY_SIZE as u64)
                .collect(),
            other => panic!("masked.tsv: unknown table {other:?}"),
        };
        for at in starts {
            out.extend(at as usize + off..at as usize + off + size);
        }
    }
    out
}

/// The masking code and masked.tsv agree: on an image whose every byte is nonzero, except the
/// header fields that place the registries (validation needs the real header), `mask` zeroes
/// exactly the bytes of the fields masked.tsv names, in the header and in every consumer and
/// producer entry, and leaves every other byte alone.
#[test]
fn mask_zeroes_exactly_the_fields_of_masked_tsv() {
    let good = golden::image("multi-wrapped").unwrap();
    let mask = bytes_to_mask(&good);
    assert!(!mask.is_empty());
    // Every byte outside the header set to 0xA5, so that a zeroed byte shows; the header keeps
    // its values (the mask locates the registries through it) but its masked fields too get
    // 0xA5.
    let mut img = good.clone();
    for (i, b) in img.iter_mut().enumerate() {
        if i >= l::HEADER_LEN || mask.contains(&i) {
            *b = 0xA5;
        }
    }
    let before = img.clone();
    golden::mask(&mut img);
    for (i, (&was, &now)) in before.iter().zip(&img).enumerate() {
        if mask.contains(&i) {
            assert_eq!(now, 0, "byte {i} of a masked field was not zeroed");
        } else {
            assert_eq!(
                now, was,
                "byte {i} is not in a masked field but was changed"
            );
        }
    }
}

/// The masking code reads masked.tsv through the layout's tables: each row names the same field
/// (offset and size) there as in the spec, and a row naming an unknown table or field is refused.
#[test]
fn masked_fields_are_those_of_masked_tsv() {
    let ours: Vec<(String, String, usize, usize)> = golden::masked_fields()
        .into_iter()
        .map(|(t, f, field)| {
            let t = match t {
                Table::Header => "header",
                Table::Entry => "entry",
                Table::Producer => "producer",
            };
            (t.to_string(), f.to_string(), field.offset, field.size)
        })
        .collect();
    let theirs: Vec<(String, String, usize, usize)> = masked_tsv()
        .into_iter()
        .map(|(t, f)| {
            let (_, off, size) = spec_table(&t)
                .into_iter()
                .find(|(name, _, _)| *name == f)
                .unwrap();
            (t, f, off, size)
        })
        .collect();
    assert_eq!(ours, theirs);
    for bad in [
        "header\tnope",
        "cursors\tpublished",
        "entry owner",
        "producer\t",
    ] {
        assert!(golden::parse_masked(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn golden_images_are_deterministic_and_valid() {
    for s in golden::SCENARIOS {
        let a = golden::image(s).unwrap();
        assert_eq!(a, golden::image(s).unwrap(), "{s}");
        assert_eq!(a.len() % 4096, 0);
        let seg = Segment::from_image(&a).unwrap();
        assert_eq!(seg.geometry().incarnation, 0);
    }
    let seg = Segment::from_image(&golden::image("multi-wrapped").unwrap()).unwrap();
    let r = seg.registry();
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].name.as_str(), r[0].cursor, r[0].required),
        ("c1", 4, true)
    );
    assert_eq!(
        (r[1].name.as_str(), r[1].cursor, r[1].required),
        ("c2", 6, false)
    );
    assert_eq!(r[1].generation, 1);
    let words: Vec<u64> = (0..4)
        .map(|s| seg.availability(s).load(Ordering::Relaxed))
        .collect();
    assert_eq!(words, [5, 6, 3, 4]);
    assert_eq!(seg.claimed().load(Ordering::Relaxed), 6);
    assert_eq!(seg.published().load(Ordering::Relaxed), 0);
}

/// The committed golden files of format 2.0 and 2.1 (written by the Go conformer) equal ours
/// byte for byte after masking, and validate.
#[test]
fn golden_images_match_testdata_v2() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../conformance/testdata/v2");
    for s in golden::SCENARIOS {
        let path = format!("{dir}/{s}.bin");
        let mut theirs = std::fs::read(&path).unwrap_or_else(|e| panic!("{s}.bin: {e}"));
        assert!(
            Segment::from_image(&theirs).is_ok(),
            "{s}.bin does not validate"
        );
        golden::mask(&mut theirs);
        let ours = golden::image(s).unwrap();
        assert_eq!(theirs.len(), ours.len(), "{s}.bin length");
        if let Some(at) = (0..ours.len()).find(|&i| theirs[i] != ours[i]) {
            panic!(
                "{s}.bin differs first at byte {at}: {} (theirs) != {} (ours)",
                theirs[at], ours[at]
            );
        }
    }
    // The images of format 1.0 are refused with the version error naming both versions.
    let v1 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../conformance/testdata/v1/empty.bin"
    );
    if let Ok(img) = std::fs::read(v1) {
        match Segment::from_image(&img) {
            Err(e @ Error::UnsupportedVersion { found_major: 1, .. }) => {
                assert!(
                    e.to_string().contains("1.0") && e.to_string().contains("2.0"),
                    "{e}"
                )
            }
            other => panic!("a 1.0 image: {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn golden_gap_and_poison_scenarios() {
    let seg = Segment::from_image(&golden::image("multi-gap").unwrap()).unwrap();
    assert_eq!(seg.geometry().producer_capacity, 2);
    assert_eq!((seg.gaps(), seg.counts()), (3, (0, 6)));
    let words: Vec<u64> = (0..6)
        .map(|s| seg.availability(s).load(Ordering::Relaxed))
        .collect();
    let g = l::AVAIL_GAP;
    assert_eq!(words, [1, 2, 3 | g, 4 | g, 5 | g, 6]);
    let r = seg.producer_registry();
    assert_eq!(
        (r[0].state, r[0].intent_start, r[0].intent_end),
        (crate::ProducerState::Active, 5, 0)
    );
    assert_eq!(
        (
            r[1].state,
            r[1].generation,
            r[1].intent_start,
            r[1].intent_end
        ),
        (crate::ProducerState::Dead, 1, 2, 5)
    );
    assert_eq!(
        (seg.registry()[0].cursor, seg.registry()[0].gaps_seen),
        (6, 3)
    );
    let seg = Segment::from_image(&golden::image("poisoned").unwrap()).unwrap();
    assert_eq!(seg.counts(), (2, 3));
    let rec = seg.poison_record().unwrap();
    assert_eq!(
        (rec.phase, rec.seq, rec.stage, rec.pid, rec.message.as_str()),
        (crate::PoisonPhase::Publish, 2, 0, 0, "fill panicked")
    );
}

/// The framed scenarios (format 2.1) hold what conformance/PROTOCOL.md says they hold, frame by
/// frame (besides equalling the committed Go images, `golden_images_match_testdata_v2`).
#[test]
fn framed_golden_images_hold_what_protocol_md_says() {
    use crate::conformance::framed_message;
    use crate::frame::FrameHeader;
    let payload =
        |seg: &Segment, s: u64, len: usize| seg.map().bytes(seg.slot_offset(s) + 16, len).to_vec();
    // framed-wrapped.
    let seg = Segment::from_image(&golden::image("framed-wrapped").unwrap()).unwrap();
    let g = seg.geometry();
    assert_eq!(
        (g.minor, g.payload_kind, g.frame_header_len, g.max_message),
        (1, 1, 16, 112)
    );
    assert_eq!(
        (g.capacity, g.slot_size, g.event.size, g.event.align),
        (16, 64, 64, 16)
    );
    assert_eq!(g.event.name, "ringwire.conformance.frames.v1");
    assert_eq!(g.event.fingerprint, 0x4712_148a_32a3_a16e);
    seg.frame_geometry().unwrap();
    let lens = [100, 20, 112, 64, 1, 48, 112, 30, 112, 7, 100, 40];
    let at = [0, 2, 3, 5, 7, 8, 9, 11, 12, 14, 16, 18];
    // Messages 0 and 1 (slots 0-2) were overwritten by messages 10 and 11 (sequences 16-18).
    for (k, (&len, &s)) in lens.iter().zip(&at).enumerate().skip(2) {
        let slots = (16 + len as u32).div_ceil(64);
        assert_eq!(
            seg.frame_header(s),
            FrameHeader::message(s, len as u32, slots),
            "k={k}"
        );
        assert_eq!(
            payload(&seg, s, len),
            framed_message(k as u64, 0, len),
            "k={k}"
        );
    }
    assert_eq!(seg.frame_header(15), FrameHeader::pad(15, 1));
    assert_eq!(seg.counts(), (19, 19));
    let r = seg.registry();
    assert_eq!(
        (r.len(), r[0].name.as_str(), r[0].required, r[0].cursor),
        (1, "c1", true, 15)
    );
    assert_eq!(r[0].state, crate::EntryState::Active);
    // framed-multi-gap.
    let seg = Segment::from_image(&golden::image("framed-multi-gap").unwrap()).unwrap();
    assert_eq!(seg.geometry().producer_capacity, 2);
    seg.frame_geometry().unwrap();
    let words: Vec<u64> = (0..8)
        .map(|s| seg.availability(s).load(Ordering::Relaxed))
        .collect();
    assert_eq!(words, [1, 2, 3, 4, 5 | l::AVAIL_GAP, 6, 7, 8]);
    assert_eq!((seg.gaps(), seg.counts()), (1, (0, 8)));
    for (s, len, k, p) in [
        (0, 100, 0, 0),
        (2, 20, 1, 0),
        (3, 70, 0, 1),
        (5, 112, 2, 0),
        (7, 5, 3, 0),
    ] {
        let slots = (16 + len as u32).div_ceil(64);
        assert_eq!(
            seg.frame_header(s),
            FrameHeader::message(s, len as u32, slots)
        );
        assert_eq!(
            payload(&seg, s, len as usize),
            framed_message(k, p, len as usize)
        );
    }
    let pr = seg.producer_registry();
    assert_eq!(
        (pr[0].state, pr[0].intent_start, pr[0].intent_end),
        (crate::ProducerState::Active, 7, 0)
    );
    assert_eq!(
        (
            pr[1].state,
            pr[1].generation,
            pr[1].intent_start,
            pr[1].intent_end
        ),
        (crate::ProducerState::Dead, 1, 3, 5)
    );
    let r = seg.registry();
    assert_eq!((r[0].cursor, r[0].gaps_seen, r[0].required), (8, 2, true));
}
