package layout

import "unsafe"

// Compile-time checks that the overlays match spec/LAYOUT.md: each line fails to compile (a
// negative array length or constant overflow) when a size or offset drifts.
var (
	_ [unsafe.Sizeof(Header{}) - HeaderLen]byte
	_ [HeaderLen - unsafe.Sizeof(Header{})]byte
	_ [unsafe.Sizeof(Cursors{}) - CursorsLen]byte
	_ [CursorsLen - unsafe.Sizeof(Cursors{})]byte
	_ [unsafe.Sizeof(Wait{}) - WaitLen]byte
	_ [WaitLen - unsafe.Sizeof(Wait{})]byte
	_ [unsafe.Sizeof(ProducerEntry{}) - ProducerSize]byte
	_ [ProducerSize - unsafe.Sizeof(ProducerEntry{})]byte
	_ [unsafe.Sizeof(Entry{}) - EntrySize]byte
	_ [EntrySize - unsafe.Sizeof(Entry{})]byte

	_ [unsafe.Offsetof(Header{}.InitState) - 8]byte
	_ [8 - unsafe.Offsetof(Header{}.InitState)]byte
	_ [unsafe.Offsetof(Header{}.Cursors) - 96]byte
	_ [96 - unsafe.Offsetof(Header{}.Cursors)]byte
	_ [unsafe.Offsetof(Header{}.EventSize) - 192]byte
	_ [192 - unsafe.Offsetof(Header{}.EventSize)]byte
	_ [unsafe.Offsetof(Header{}.TypeName) - 216]byte
	_ [216 - unsafe.Offsetof(Header{}.TypeName)]byte
	_ [unsafe.Offsetof(Cursors{}.Claimed) - BlockSize]byte
	_ [BlockSize - unsafe.Offsetof(Cursors{}.Claimed)]byte
	_ [unsafe.Offsetof(Wait{}.Producer) - BlockSize]byte
	_ [BlockSize - unsafe.Offsetof(Wait{}.Producer)]byte
	_ [unsafe.Offsetof(Entry{}.Cursor) - BlockSize]byte
	_ [BlockSize - unsafe.Offsetof(Entry{}.Cursor)]byte
	_ [unsafe.Offsetof(Entry{}.Name) - 40]byte
	_ [40 - unsafe.Offsetof(Entry{}.Name)]byte
)

var (
	_ [unsafe.Offsetof(Header{}.PayloadKind) - 392]byte
	_ [392 - unsafe.Offsetof(Header{}.PayloadKind)]byte
	_ [unsafe.Sizeof(FrameHeader{}) - FrameHeaderLen]byte
	_ [FrameHeaderLen - unsafe.Sizeof(FrameHeader{})]byte
)
