package bench

import (
	"encoding/binary"
	"math/bits"
)

// The workload of the framed group: one deterministic stream of variable-length messages that
// every row of the group carries (framed ring, fixed-slot ring, Unix sockets), so that their
// figures compare the transports and nothing else. Every producer in the group is Go except the
// socket baseline's, bench/baselines/c/uds.c, which generates the same stream (its checksum,
// checked against messageStream.expect, proves that it does). The consumers in C
// (bench/interop/c/rwperf.c) and Rust (bench/interop/rust/src/main.rs) only checksum.
//
// The stream, exactly (the C and Rust code follow this text):
//   - next() is splitmix64: state += 0x9E3779B97F4A7C15; z = state; z = (z ^ z>>30) *
//     0xBF58476D1CE4E5B9; z = (z ^ z>>27) * 0x94D049BB133111EB; return z ^ z>>31. The state
//     starts at msgSeed.
//   - sizes: msgSizes values drawn first, size[j] = 64 + next() % 449 (uniform in 64..512).
//   - pool: then msgPoolWords words drawn, stored little-endian: 64 KiB + 512 bytes.
//   - message i is size[i % msgSizes] bytes of the pool from byte msgOffset(i) =
//     8 * ((i * 7919) % 8192): the producer copies them into the ring (or the socket), every
//     byte written, the same copy for every implementation.
//
// The consumer's checksum touches every byte: sum(msg) is the wrapping sum of the message's
// little-endian 64-bit words, the last partial word zero-extended; over the stream
// c = rotl64(c, 7) ^ (sum(msg) + len(msg)), from c = 0, in order.
const (
	msgSeed      = 0x72696e6777697265 // "ringwire"
	msgMin       = 64
	msgMax       = 512
	msgSizes     = 1 << 14 // sizes drawn; the stream repeats after this many messages
	msgPoolWords = 8192 + msgMax/8
	msgStride    = 7919 // odd: i*7919 % 8192 visits every offset
)

// msgOffset is the pool offset of message i's bytes.
func msgOffset(i uint64) int { return 8 * int((i*msgStride)&8191) }

// splitmix64 is the generator of the stream.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9E3779B97F4A7C15
	z := uint64(*s)
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// messageStream is the generated workload, built once per process (newStream).
type messageStream struct {
	sizes [msgSizes]uint16
	pool  []byte
}

func newStream() *messageStream {
	m := &messageStream{pool: make([]byte, 8*msgPoolWords)}
	g := splitmix64(msgSeed)
	for j := range m.sizes {
		m.sizes[j] = uint16(msgMin + g.next()%(msgMax-msgMin+1))
	}
	for w := 0; w < msgPoolWords; w++ {
		binary.LittleEndian.PutUint64(m.pool[8*w:], g.next())
	}
	return m
}

// message returns message i, aliasing the pool (read only).
func (m *messageStream) message(i uint64) []byte {
	off := msgOffset(i)
	return m.pool[off : off+int(m.sizes[i%msgSizes]) : off+int(m.sizes[i%msgSizes])]
}

// msgSum is the consumer's per-message sum, a word at a time: what every consumer of the group
// runs, in its language, on every byte it receives.
func msgSum(b []byte) uint64 {
	var s0, s1 uint64
	for len(b) >= 16 {
		s0 += binary.LittleEndian.Uint64(b)
		s1 += binary.LittleEndian.Uint64(b[8:])
		b = b[16:]
	}
	if len(b) >= 8 {
		s0 += binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	var t uint64
	for i, x := range b {
		t |= uint64(x) << (8 * i)
	}
	return s0 + s1 + t
}

// fold adds one message's sum to the stream checksum c.
func fold(c, sum uint64, n int) uint64 { return bits.RotateLeft64(c, 7) ^ (sum + uint64(n)) }

// expect returns the payload bytes and the checksum of the first n messages, computed a byte at
// a time (not with msgSum), for the harness to check every consumer's result against.
func (m *messageStream) expect(n int) (bytes, checksum uint64) {
	period := min(n, msgSizes)
	sums := make([]uint64, period)
	for i := range sums {
		for k, b := range m.message(uint64(i)) {
			sums[i] += uint64(b) << (8 * (k % 8))
		}
	}
	for i := 0; i < n; i++ {
		size := int(m.sizes[i%msgSizes])
		bytes += uint64(size)
		checksum = bits.RotateLeft64(checksum, 7) ^ (sums[i%period] + uint64(size))
	}
	return bytes, checksum
}
