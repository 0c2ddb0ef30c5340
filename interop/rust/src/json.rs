//! A small JSON writer (the crate has no dependencies): enough for [`crate::Snapshot::to_json`],
//! writing strings as Go's `encoding/json` does, so the same snapshot reads the same in both.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Appends `s` to `out` as a JSON string, escaped as Go's `encoding/json` escapes it: `"` and `\`
/// with a backslash; backspace, form feed, newline, carriage return and tab as `\b`, `\f`, `\n`,
/// `\r`, `\t`; every other control character, `<`, `>`, `&`, U+2028 and U+2029 as `\u00XX`
/// (lowercase hex). U+FFFD is written `\ufffd`, as Go writes a byte that is not valid UTF-8
/// (text from peers reaches here through `naming::decode_lossy`, which makes each such byte one
/// U+FFFD): Go writes a U+FFFD that was valid in its input unescaped, which decodes the same.
pub(crate) fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0'..='\u{1f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\u{fffd}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A value that writes itself as JSON.
pub(crate) trait Value {
    fn write_json(&self, out: &mut String);
}

macro_rules! number {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn write_json(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }
    )*};
}
number!(u16, u32, u64, i64, usize, bool);

impl Value for str {
    fn write_json(&self, out: &mut String) {
        string(out, self);
    }
}

impl<T: Value> Value for Option<T> {
    fn write_json(&self, out: &mut String) {
        match self {
            Some(v) => v.write_json(out),
            None => out.push_str("null"),
        }
    }
}

impl<T: Value> Value for [T] {
    fn write_json(&self, out: &mut String) {
        array(out, self, |out, v| v.write_json(out));
    }
}

/// Appends a JSON array of `items`, each written by `each`.
pub(crate) fn array<T>(
    out: &mut String,
    items: impl IntoIterator<Item = T>,
    mut each: impl FnMut(&mut String, T),
) {
    out.push('[');
    for (i, v) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(out, v);
    }
    out.push(']');
}

/// A JSON object being appended to a string: `{` on creation, `}` at [`Object::end`].
pub(crate) struct Object<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Object<'a> {
    pub(crate) fn new(out: &'a mut String) -> Object<'a> {
        out.push('{');
        Object { out, first: true }
    }

    /// The member `name` (written unescaped: names are the writer's own).
    pub(crate) fn field(&mut self, name: &str, v: &(impl Value + ?Sized)) -> &mut Self {
        v.write_json(self.key(name));
        self
    }

    /// The member `name`, its value written by `write`.
    pub(crate) fn field_with(&mut self, name: &str, write: impl FnOnce(&mut String)) -> &mut Self {
        write(self.key(name));
        self
    }

    fn key(&mut self, name: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        let _ = write!(self.out, "\"{name}\":");
        self.out
    }

    pub(crate) fn end(&mut self) {
        self.out.push('}');
    }
}

/// Appends `t` as a JSON string in RFC 3339 with nanoseconds, trailing zeros of the fraction
/// dropped, as Go writes a `time.Time`, in UTC (`Z`; Go writes its local offset: the same
/// instant). A time before 1970 is written as 1970-01-01T00:00:00Z.
pub(crate) fn time(out: &mut String, t: SystemTime) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_date(days);
    let _ = write!(
        out,
        "\"{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    let nanos = since.subsec_nanos();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        let _ = write!(out, ".{}", frac.trim_end_matches('0'));
    }
    out.push_str("Z\"");
}

/// The proleptic Gregorian date (year, month 1-12, day 1-31) `days` days after 1970-01-01,
/// counted in 400-year eras of 146097 days that start on a 1 March, so that the leap day is the
/// last day of its year.
fn civil_date(days: u64) -> (u64, u64, u64) {
    // Days since 0000-03-01; 1970-01-01 is day 719468 of that count.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
