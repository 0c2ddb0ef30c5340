// Package fnv1a is the one home of the 64-bit FNV-1a hash of spec/LAYOUT.md: event type
// fingerprints (section 7, layout.Fingerprint) and the hash suffix of portable segment names
// (section 9, naming.Portable). It imports nothing, so layout and naming both use it without
// depending on each other.
package fnv1a

// Offset and Prime are FNV-1a 64's offset basis and prime (spec section 7).
const (
	Offset uint64 = 0xcbf29ce484222325
	Prime  uint64 = 0x100000001b3
)

// Sum64 returns the FNV-1a 64 hash of b: start with Offset; for each byte, xor it in, then
// multiply by Prime modulo 2^64. It is safe for concurrent use and does not allocate.
func Sum64(b []byte) uint64 {
	h := Offset
	for _, c := range b {
		h ^= uint64(c)
		h *= Prime
	}
	return h
}
