package main

import "encoding/binary"

// Event is the demo's 64-byte event. Its shape is the conformance event of spec/LAYOUT.md
// section 7, struct{u64@0,u64@8,u64@16,[40]u8@24}:64:8 (fingerprint 0x8463538f676797d7), so
// peers in other languages can read a demo ring too.
type Event struct {
	Seq      uint64   // the event's sequence number
	Value    uint64   // derived from Seq, so a torn or stale slot shows up
	Checksum uint64   // checksumOf(the other fields)
	Payload  [40]byte // five little-endian words derived from Seq
}

// fill writes the event for sequence seq.
func (e *Event) fill(seq uint64) {
	e.Seq = seq
	e.Value = mix(seq)
	w := e.Value
	for i := 0; i < len(e.Payload); i += 8 {
		w = mix(w)
		binary.LittleEndian.PutUint64(e.Payload[i:], w)
	}
	e.Checksum = e.checksum()
}

// checksum hashes every field except Checksum.
func (e *Event) checksum() uint64 {
	h := mix(e.Seq ^ 0x9e3779b97f4a7c15)
	h = mix(h ^ e.Value)
	for i := 0; i < len(e.Payload); i += 8 {
		h = mix(h ^ binary.LittleEndian.Uint64(e.Payload[i:]))
	}
	return h
}

// valid reports whether the checksum matches the other fields.
func (e *Event) valid() bool { return e.Checksum == e.checksum() }

// mix is a 64-bit finalizer (from SplitMix64): cheap, and every input bit reaches every output
// bit.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
