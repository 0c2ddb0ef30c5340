// Package naming maps free-form labels to shared-memory segment names that are valid on every
// platform ringwire supports. The algorithm is specified byte for byte in spec/LAYOUT.md section 9,
// so the C and Rust implementations derive the same name from the same label.
package naming

import (
	"encoding/binary"
	"encoding/hex"

	"github.com/ringwire/ringwire/internal/fnv1a"
)

// MaxLen is the longest name Portable returns, including the leading slash: macOS limits POSIX
// shared-memory names to 31 bytes.
const MaxLen = 31

const (
	maxVerbatim = MaxLen - 1 // a label kept as it is: everything after the slash
	prefixLen   = 19         // readable prefix kept when a hash is appended
	hashChars   = 10         // hex digits of the FNV-1a 64 hash appended
	emptyPrefix = "rw"
)

// Portable returns the segment name for label: "/" followed by at most 30 bytes from
// [A-Za-z0-9._-]. A label that already is such a name (with or without its leading slashes) is
// kept as it is; any other label keeps a readable prefix and gets a hash of the whole label, so
// distinct labels give distinct names with overwhelming probability. Portable is deterministic
// and safe for concurrent use.
func Portable(label string) string {
	s := label
	for len(s) > 0 && s[0] == '/' {
		s = s[1:]
	}
	t := []byte(s)
	for i, b := range t {
		if !allowed(b) {
			t[i] = '_'
		}
	}
	if len(t) > 0 && t[0] == '.' {
		t[0] = '_'
	}
	if string(t) == s && len(t) >= 1 && len(t) <= maxVerbatim {
		return "/" + s
	}
	prefix := t
	if len(prefix) > prefixLen {
		prefix = prefix[:prefixLen]
	}
	if len(prefix) == 0 {
		prefix = []byte(emptyPrefix)
	}
	var sum [8]byte
	binary.BigEndian.PutUint64(sum[:], FNV1a64([]byte(s)))
	return "/" + string(prefix) + "-" + hex.EncodeToString(sum[:])[:hashChars]
}

// Valid reports whether name is a segment name every supported platform accepts: a leading slash
// and 1 to 30 bytes from [A-Za-z0-9._-], not starting with a dot.
func Valid(name string) bool {
	if len(name) < 2 || len(name) > MaxLen || name[0] != '/' || name[1] == '.' {
		return false
	}
	for i := 1; i < len(name); i++ {
		if !allowed(name[i]) {
			return false
		}
	}
	return true
}

func allowed(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
		b == '.' || b == '_' || b == '-'
}

// FNV1a64 is the 64-bit FNV-1a hash the spec uses for names (section 9) and type fingerprints
// (section 7, layout.Fingerprint). Its one implementation is internal/fnv1a, shared with layout.
func FNV1a64(b []byte) uint64 { return fnv1a.Sum64(b) }
