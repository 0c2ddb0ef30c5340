//! FNV-1a 64 (spec section 7), the segment name grammar and portable segment names (spec
//! section 9).

use crate::error::{Error, Result};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 of `bytes`, usable in constants.
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_continue(FNV_OFFSET, bytes)
}

/// Continues an FNV-1a 64 hash `h` over more `bytes`.
pub const fn fnv1a64_continue(mut h: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

/// Text another process wrote (a consumer name, the type name, a poison message) as a `String`:
/// each byte that does not begin a valid UTF-8 sequence there becomes one U+FFFD, as Go's
/// `encoding/json` writes such a byte, so a name reads the same in Rust and in Go's JSON. (Rust's
/// `String::from_utf8_lossy` differs: it gives one U+FFFD for a truncated sequence of several
/// bytes.)
pub(crate) fn decode_lossy(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                // The prefix is valid UTF-8, by valid_up_to's contract.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push(char::REPLACEMENT_CHARACTER);
                bytes = &rest[1..];
            }
        }
    }
}

/// Longest component of a segment name in bytes (Linux `NAME_MAX`; spec 9).
pub const MAX_NAME_COMPONENT: usize = 255;

/// Checks `name` against the grammar of spec section 9 before anything touches the system:
/// `"/"` followed by 1 to 255 bytes, none of them `/` or NUL, and not `.` or `..` (on macOS at
/// most 31 bytes in all). Anything else is `InvalidName`.
pub fn check_segment_name(name: &[u8]) -> Result<()> {
    let ok = match name.split_first() {
        Some((b'/', c)) => {
            (1..=MAX_NAME_COMPONENT).contains(&c.len())
                && !c.iter().any(|&b| b == b'/' || b == 0)
                && c != b"."
                && c != b".."
                && (!cfg!(target_os = "macos") || name.len() <= MAX_PORTABLE_LEN)
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            name: String::from_utf8_lossy(name).into_owned(),
        })
    }
}

/// Longest name [`portable_name`] returns, including the slash (macOS's limit).
pub const MAX_PORTABLE_LEN: usize = 31;

/// Maps any label to a POSIX shared-memory name valid on Linux and macOS (spec section 9).
pub fn portable_name(label: &str) -> String {
    let s = label.as_bytes();
    let s = &s[s.iter().take_while(|&&b| b == b'/').count()..];
    let mut t: Vec<u8> = s
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => b,
            _ => b'_',
        })
        .collect();
    if t.first() == Some(&b'.') {
        t[0] = b'_';
    }
    // `t` is ASCII by construction.
    let t = String::from_utf8(t).expect("ascii");
    if t.as_bytes() == s && (1..MAX_PORTABLE_LEN).contains(&t.len()) {
        return format!("/{t}");
    }
    let hash = format!("{:016x}", fnv1a64(s));
    let prefix = if t.is_empty() {
        "rw"
    } else {
        &t[..t.len().min(19)]
    };
    format!("/{prefix}-{}", &hash[..10])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_match_spec_table() {
        assert_eq!(fnv1a64(b"u64:8:8"), 0x43c1_8149_e428_90e2);
        assert_eq!(
            fnv1a64(b"struct{u64@0,u64@8,u64@16,[40]u8@24}:64:8"),
            0x8463_538f_6767_97d7
        );
        // The spec's table, parsed, so a changed row fails here.
        let spec = include_str!("../../../spec/LAYOUT.md");
        let rows: Vec<(&str, u64)> = spec
            .lines()
            .filter_map(|l| {
                let c: Vec<&str> = l
                    .trim()
                    .trim_matches('|')
                    .split('|')
                    .map(str::trim)
                    .collect();
                let d = c.first()?.strip_prefix('`')?.strip_suffix('`')?;
                let h = c.get(1)?.strip_prefix("`0x")?.strip_suffix('`')?;
                Some((d, u64::from_str_radix(h, 16).ok()?))
            })
            .collect();
        assert_eq!(rows.len(), 2);
        for (d, want) in rows {
            assert_eq!(fnv1a64(d.as_bytes()), want, "{d}");
        }
    }

    /// Decodes the `\xHH` escapes of `conformance/testdata/segment_names.tsv`.
    fn unescape(s: &str) -> Vec<u8> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 4 <= b.len() {
                let hex = std::str::from_utf8(&b[i + 2..i + 4]).expect("ascii hex");
                out.push(u8::from_str_radix(hex, 16).expect("\\xHH"));
                i += 4;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn segment_names_match_conformance_vectors() {
        let tsv = include_str!("../../../conformance/testdata/segment_names.tsv");
        let mut n = 0;
        for line in tsv.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (name, want) = line.rsplit_once('\t').expect("name<TAB>verdict");
            let name = unescape(name);
            let got = check_segment_name(&name);
            match want {
                "valid" => assert!(got.is_ok(), "{name:?} refused: {got:?}"),
                "invalid" => assert!(
                    matches!(got, Err(Error::InvalidName { .. })),
                    "{name:?} accepted"
                ),
                other => panic!("bad verdict {other:?}"),
            }
            n += 1;
        }
        assert!(n >= 19, "only {n} vectors");
        assert_eq!(unescape("/nul\\x00inside"), b"/nul\0inside");
    }

    #[test]
    fn portable_name_matches_testdata() {
        let tsv = include_str!("../../../naming/testdata/portable.tsv");
        let mut n = 0;
        for line in tsv.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (label, want) = line.split_once('\t').expect("label<TAB>name");
            let got = portable_name(label);
            assert_eq!(got, want, "label {label:?}");
            assert!(got.len() <= MAX_PORTABLE_LEN);
            n += 1;
        }
        assert_eq!(n, 13);
    }
}
