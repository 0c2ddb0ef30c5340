package conformance

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/fnv1a"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// FramedTypeName is the message type of a conformance framed ring (PROTOCOL.md, "The framed
// conformance message").
const FramedTypeName = "ringwire.conformance.frames.v1"

// MessageLen is F(k, p) of PROTOCOL.md for a ring whose largest message is max: 1 if k mod 97 is
// 1, max if it is 2, otherwise 1 + (FNV-1a 64 of k and p as little-endian u64) mod max.
func MessageLen(k, p uint64, max uint32) int {
	switch k % 97 {
	case 1:
		return 1
	case 2:
		return int(max)
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], k)
	binary.LittleEndian.PutUint64(b[8:], p)
	return 1 + int(fnv1a.Sum64(b[:])%uint64(max))
}

// FillMessage writes message k of producer p into b (all of it): byte 0 is p, byte i >= 1 is
// PayloadByte(k, p, i).
func FillMessage(b []byte, k, p uint64) {
	for i := range b {
		b[i] = PayloadByte(k, p, i)
	}
	if len(b) > 0 {
		b[0] = byte(p)
	}
}

// Message returns message k of producer p, n bytes long.
func Message(k, p uint64, n int) []byte {
	b := make([]byte, n)
	FillMessage(b, k, p)
	return b
}

// MessageTracker checks framed conformance messages: each producer's arrive in order, with the
// lengths F gives and the bytes FillMessage writes.
type MessageTracker struct {
	next      []uint64
	max       uint32
	buf       []byte
	Received  uint64
	Producers uint64
}

// NewMessageTracker tracks messages of producers 0..producers-1 in a ring whose largest message
// is max.
func NewMessageTracker(producers uint64, max uint32) *MessageTracker {
	return &MessageTracker{next: make([]uint64, producers), max: max, buf: make([]byte, max), Producers: producers}
}

// Observe checks one message.
func (t *MessageTracker) Observe(m []byte) error {
	if len(m) == 0 {
		return errors.New("empty message: every conformance message has at least one byte")
	}
	p := uint64(m[0])
	if p >= uint64(len(t.next)) {
		return fmt.Errorf("message names producer %d, expected fewer than %d producers", p, len(t.next))
	}
	k := t.next[p]
	if want := MessageLen(k, p, t.max); len(m) != want {
		return fmt.Errorf("producer %d message %d: %d bytes, want %d", p, k, len(m), want)
	}
	want := t.buf[:len(m)]
	FillMessage(want, k, p)
	for i := range m {
		if m[i] != want[i] {
			return fmt.Errorf("producer %d message %d: byte %d is %d, want %d", p, k, i, m[i], want[i])
		}
	}
	t.next[p]++
	t.Received++
	return nil
}

// Next returns how many messages of producer p were observed.
func (t *MessageTracker) Next(p uint64) uint64 { return t.next[p] }

// framedScenarios are the framed golden scenarios of PROTOCOL.md ("Framed scenarios"), built
// with the real framed producer and consumer.
var framedScenarios = map[string]func(p *producer.Framed, c *consumer.Framed) error{
	"framed-wrapped": func(p *producer.Framed, c *consumer.Framed) error {
		sizes := []int{100, 20, 112, 64, 1, 48, 112, 30, 112, 7, 100, 40}
		for k, n := range sizes {
			if k == 10 { // the consumer reads messages 0..9 (sequences 0..14), then stops
				if err := readMessages(c, 10); err != nil {
					return err
				}
			}
			if err := p.Publish(Message(uint64(k), 0, n)); err != nil {
				return err
			}
		}
		return nil
	},
	"framed-multi-gap": func(p *producer.Framed, c *consumer.Framed) error {
		for k, n := range []int{100, 20} {
			if err := p.Publish(Message(uint64(k), 0, n)); err != nil {
				return err
			}
		}
		// Producer entry 1 claimed sequences 3-4 for its message 0 (70 bytes, two slots), wrote
		// the frame, published sequence 3 and died; sequence 4 was passed over (spec 5.8) and the
		// entry retired once resolved (5.4 attach step 1).
		v := p.Segment().View()
		pe := v.Producer(1)
		pe.IntentStart.Store(3)
		pe.IntentEnd.Store(5)
		pe.StateGen.Store(uint32(layout.MakeState(layout.ProducerActive, 1)))
		if !v.Cursors().Claimed.CompareAndSwap(3, 5) {
			return errors.New("framed-multi-gap: claimed is not 3")
		}
		layout.StoreFrame(v.Frame(3), layout.FrameHeader{SeqFlags: 3, Length: 70, Slots: 2})
		FillMessage(v.Bytes()[uint64(v.Header().Slots.Offset)+3*64+16:][:70], 0, 1)
		v.Availability(3).Store(4)
		v.Availability(4).Store(5 | layout.AvailGap)
		v.Header().Gaps.Add(1)
		pe.StateGen.Store(uint32(layout.MakeState(layout.ProducerDead, 1)))
		for k, n := range []int{112, 5} {
			if err := p.Publish(Message(uint64(k+2), 0, n)); err != nil {
				return err
			}
		}
		return readMessages(c, 4)
	},
}

// readMessages reads n messages from c, passing over gaps.
func readMessages(c *consumer.Framed, n int) error {
	for got := 0; got < n; {
		k, err := c.Process(func([]byte, uint64, bool) error { return nil }, n-got)
		if errors.Is(err, consumer.ErrGap) {
			continue
		}
		if err != nil {
			return err
		}
		got += k
	}
	return nil
}

// framedGolden builds a framed scenario in a temporary file with the real framed producer (in
// the scenario's mode) and a required consumer "c1", and returns the masked image.
func framedGolden(name string, build func(*producer.Framed, *consumer.Framed) error) ([]byte, error) {
	dir, err := os.MkdirTemp("", "rw-golden-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	o := producer.FramedOptions{SlotSize: 64, Options: producer.Options{Capacity: 16, Registry: 2, Wait: coordination.Yield(), TypeName: FramedTypeName}}
	if name == "framed-multi-gap" {
		o.Mode, o.Producers = producer.Multi, 2
	}
	p, err := producer.CreateFramed(segment.File(filepath.Join(dir, "ring")), o)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	c, err := consumer.RegisterFramed(p.Segment(), consumer.Options{Name: "c1", Wait: coordination.Yield()})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := build(p, c); err != nil {
		return nil, fmt.Errorf("golden %s: %w", name, err)
	}
	v := p.Segment().View()
	img := Aligned(v.Bytes()[:v.Header().TotalSize])
	Mask(img)
	return img, nil
}
