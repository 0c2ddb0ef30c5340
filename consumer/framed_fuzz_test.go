package consumer_test

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// FuzzFramedConsumer writes arbitrary bytes over the slots of a framed ring, publishes up to the
// fuzzer's count, and reads with a required and an optional consumer: every message handed over
// must lie inside the slot array (never a read outside the frame or the mapping), and reading must
// end in a clear error or in having read everything, never a panic or a hang.
func FuzzFramedConsumer(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 'h', 'e', 'l', 'l', 'o'}, uint8(1))
	f.Add(make([]byte, 1024), uint8(16))
	f.Fuzz(func(t *testing.T, slots []byte, published uint8) {
		p, err := producer.CreateFramed(segment.Heap(), producer.FramedOptions{Options: producer.Options{Capacity: 16}, SlotSize: 64})
		require.NoError(t, err)
		defer p.Close()
		v := p.Segment().View()
		arr := unsafe.Slice((*byte)(v.Slot(0)), 16*64)
		copy(arr, slots)
		lo, hi := uintptr(unsafe.Pointer(&arr[0])), uintptr(unsafe.Pointer(&arr[0]))+uintptr(len(arr))
		n := uint64(published % 17)
		req, err := consumer.RegisterFramed(p.Segment(), consumer.Options{Name: "req"})
		require.NoError(t, err)
		defer req.Close()
		opt, err := consumer.RegisterFramed(p.Segment(), consumer.Options{Name: "opt", Optional: true})
		require.NoError(t, err)
		defer opt.Close()
		v.Cursors().Claimed.Store(n)
		v.Cursors().Published.Store(n)
		for _, c := range []*consumer.Framed{req, opt} {
			for round := 0; round < 40 && c.Cursor() < n; round++ {
				_, err := c.Poll(func(m []byte, _ uint64, _ bool) error {
					if len(m) > 0 {
						s := uintptr(unsafe.Pointer(&m[0]))
						require.True(t, s >= lo && s+uintptr(len(m)) <= hi || c == opt, "message outside the slots")
					}
					return nil
				}, 0)
				if err != nil {
					require.True(t, errors.Is(err, consumer.ErrCorruptFrame), "unexpected error %v", err)
					break
				}
			}
		}
	})
}
