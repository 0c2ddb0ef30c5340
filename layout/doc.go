// Package layout is the only code in ringwire that knows byte offsets. It mirrors the tables of
// spec/LAYOUT.md (format 1.0) as overlay structs in fixed-width fields, computes where every region
// of a segment goes, initializes a segment, and validates a foreign one before anything else reads
// it.
//
// The overlay structs are cast onto mapped memory; the compile-time assertions in asserts.go and
// the test that parses the spec's tables keep them byte-exact. Every multi-byte field is
// little-endian, so this package refuses to work on a big-endian host.
package layout
