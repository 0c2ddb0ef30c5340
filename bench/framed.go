package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/child"
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// The framed group: variable-length messages (messages.go) through a framed ring, through a
// ring of fixed slots big enough for the largest message, and through Unix domain sockets, with
// a Go producer process on CPU 0 and a consumer process on CPU 1, busy-spinning.
const (
	framedSlot     = 128   // framed rows: slot size
	framedCapacity = 16384 // framed rows: slots (2 MiB)
	fixedCapacity  = 4096  // fixed rows: events of 520 bytes (2.03 MiB)
	messageBatch   = 64    // messages per publish (fixed: per claim; sockets: per write)
	pingSize       = 256   // ping-pong message bytes
	framedPingCap  = 256   // ping-pong rings: 32 KiB framed, 33 KiB fixed
	fixedPingCap   = 64
	readBatch      = 256 // most messages a consumer reads (and releases) at once, in every language
)

// fixedMessage is the event of the fixed-slot rows: a length, then room for the largest message
// of the stream. The brief said 512-byte events, but a u32 length and 512 bytes do not fit in
// 512: the event is 520 bytes, the payload 8-aligned after a u32 pad, so every message of the
// one workload fits. Its descriptor is written out in bench/interop/c/rwperf.c and
// bench/interop/rust/src/main.rs (TestFixedMessage_DescriptorIsTheCAndRustOne checks both).
type fixedMessage struct {
	Len     uint32
	Pad     uint32
	Payload [msgMax]byte
}

const fixedDescriptor = "struct{u32@0,u32@4,[512]u8@8}:520:4"

// The roles of the framed group's Go child processes.
var framedRoles = map[string]func(role) error{
	"framed-produce": framedProduce,
	"framed-consume": framedConsume,
	"fixed-produce":  fixedProduce,
	"fixed-consume":  fixedConsume,
	"framed-ping":    framedPing,
	"framed-pong":    framedPong,
	"fixed-ping":     fixedPing,
	"fixed-pong":     fixedPong,
}

func init() {
	for name := range framedRoles {
		child.Register(name, childMain)
	}
}

// msgTiming is the JSON line every message consumer prints (Go, and rwperf in C and Rust): the
// timing line plus what it received, for the harness to check against messageStream.expect.
type msgTiming struct {
	timing
	Bytes    uint64 `json:"bytes"`
	Checksum uint64 `json:"checksum"`
}

// msgSink is a consumer's running count and checksum.
type msgSink struct {
	n, bytes, sum uint64
	start         uint64
}

func (s *msgSink) add(msg []byte) {
	s.sum = fold(s.sum, msgSum(msg), len(msg))
	s.bytes += uint64(len(msg))
	s.n++
}

// drain reads with read (one batch a call) until r.Events messages arrived or it fails, the
// clock starting at the first batch, and reports.
func (s *msgSink) drain(r role, read func() error) error {
	var err error
	for s.n < uint64(r.Events) {
		if err = read(); err != nil {
			break
		}
		if s.start == 0 {
			s.start = sys.Monotonic()
		}
	}
	return s.report(r, err)
}

func (s *msgSink) report(r role, err error) error {
	end := sys.Monotonic()
	if err != nil && !errors.Is(err, consumer.ErrEndOfStream) {
		return err
	}
	if s.n != uint64(r.Events) {
		return fmt.Errorf("received %d of %d messages", s.n, r.Events)
	}
	return printJSON(msgTiming{timing{"go", "consumer", r.Events, 0, s.start, end, float64(end-s.start) / 1e9}, s.bytes, s.sum})
}

// framedProduce creates the framed ring and publishes the stream: PublishBatch of messageBatch
// slices of the pool (one claim, one copy per message into the ring), or with Mode "claim" one
// Claim, copy into Payload and PublishClaim per message.
func framedProduce(r role) error {
	m := newStream()
	p, err := producer.CreateFramed(segment.SharedMemory(r.Name), producer.FramedOptions{
		Options:  producer.Options{Capacity: uint64(r.Capacity), Wait: coordination.BusySpin(), Registry: 4},
		SlotSize: framedSlot, MaxMessage: msgMax,
	})
	if err != nil {
		return err
	}
	defer p.Close()
	if err := waitForConsumer(p.Segment().View(), 10*time.Second); err != nil {
		return err
	}
	n := uint64(r.Events)
	msgs := make([][]byte, r.Batch)
	start := sys.Monotonic()
	if r.Mode == "claim" {
		for i := uint64(0); i < n; i++ {
			msg := m.message(i)
			c, err := p.Claim(len(msg))
			if err != nil {
				return err
			}
			copy(c.Payload(), msg)
			if err := p.PublishClaim(c, len(msg)); err != nil {
				return err
			}
		}
	} else {
		for i := uint64(0); i < n; i += uint64(r.Batch) {
			k := min(uint64(r.Batch), n-i)
			for j := range k {
				msgs[j] = m.message(i + j)
			}
			if err := p.PublishBatch(msgs[:k]); err != nil {
				return err
			}
		}
	}
	end := sys.Monotonic()
	if err := p.Close(); err != nil {
		return err
	}
	return printJSON(timing{"go", "producer", r.Events, r.Batch, start, end, float64(end-start) / 1e9})
}

// framedConsume reads every message in place, in batches of up to readBatch.
func framedConsume(r role) error {
	c, err := consumer.AttachFramed(segment.SharedMemory(r.Name), consumer.Options{
		Name: "bench", Wait: coordination.BusySpin(), AttachTimeout: 10 * time.Second,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	var s msgSink
	h := func(msg []byte, _ uint64, _ bool) error {
		s.add(msg)
		return nil
	}
	return s.drain(r, func() error { _, err := c.Process(h, readBatch); return err })
}

// fixedProduce creates the fixed-slot ring and publishes the stream in claims of r.Batch events
// written in place: the length, then the message's bytes copied from the pool.
func fixedProduce(r role) error {
	m := newStream()
	p, err := producer.Create[fixedMessage](segment.SharedMemory(r.Name), producer.Options{
		Capacity: uint64(r.Capacity), Wait: coordination.BusySpin(), Registry: 4,
	})
	if err != nil {
		return err
	}
	defer p.Close()
	if err := waitForConsumer(p.Segment().View(), 10*time.Second); err != nil {
		return err
	}
	n := uint64(r.Events)
	start := sys.Monotonic()
	for i := uint64(0); i < n; i += uint64(r.Batch) {
		cl, err := p.Claim(int(min(uint64(r.Batch), n-i)))
		if err != nil {
			return err
		}
		first, second := cl.Slices()
		m.fill(second, m.fill(first, i))
		if err := p.PublishClaim(cl); err != nil {
			return err
		}
	}
	end := sys.Monotonic()
	if err := p.Close(); err != nil {
		return err
	}
	return printJSON(timing{"go", "producer", r.Events, r.Batch, start, end, float64(end-start) / 1e9})
}

// fill writes messages i, i+1, ... into evs and returns the next index.
func (m *messageStream) fill(evs []fixedMessage, i uint64) uint64 {
	for j := range evs {
		msg := m.message(i)
		e := &evs[j]
		e.Len = uint32(len(msg))
		copy(e.Payload[:], msg)
		i++
	}
	return i
}

// fixedConsume reads every event in place, in batches of up to readBatch, and checksums its Len
// bytes.
func fixedConsume(r role) error {
	c, err := consumer.Attach[fixedMessage](segment.SharedMemory(r.Name), consumer.Options{
		Name: "bench", Wait: coordination.BusySpin(), AttachTimeout: 10 * time.Second,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	var s msgSink
	h := func(evs []fixedMessage, first uint64) error {
		for j := range evs {
			e := &evs[j]
			if e.Len > msgMax {
				return fmt.Errorf("event %d: length %d over %d", first+uint64(j), e.Len, msgMax)
			}
			s.add(e.Payload[:e.Len])
		}
		return nil
	}
	return s.drain(r, func() error { _, err := c.ProcessSlices(h, readBatch); return err })
}

// pingMessage writes message i of the ping-pong into out (pingSize bytes): the pool's bytes at
// msgOffset(i), the first 8 replaced by i.
func (m *messageStream) pingMessage(out []byte, i uint64) {
	off := msgOffset(i)
	copy(out, m.pool[off:off+len(out)])
	binary.LittleEndian.PutUint64(out, i)
}

// pingLoop is the measuring side of both ping-pongs: send(i, msg) publishes msg and recv(msg)
// waits for the reply, which must be msg, byte for byte. It prints the one-way latency as
// ping does.
func pingLoop(r role, send func(msg []byte) error, recv func(want []byte) error) error {
	m := newStream()
	msg := make([]byte, pingSize)
	h := newHist()
	epoch := time.Now()
	prev := time.Since(epoch)
	for i := 0; i < r.Warmup+r.Events; i++ {
		m.pingMessage(msg, uint64(i))
		if err := send(msg); err != nil {
			return err
		}
		if err := recv(msg); err != nil {
			return fmt.Errorf("round trip %d: %w", i, err)
		}
		now := time.Since(epoch)
		if i >= r.Warmup {
			h.RecordValue(int64(now - prev))
		}
		prev = now
	}
	return printJSON(latencyOf(h, 2))
}

var errWrongReply = errors.New("the reply differs from the message sent")

func framedRing(name string, capacity int) (*producer.Framed, error) {
	return producer.CreateFramed(segment.SharedMemory(name), producer.FramedOptions{
		Options:  producer.Options{Capacity: uint64(capacity), Wait: coordination.BusySpin(), Registry: 2},
		SlotSize: framedSlot, MaxMessage: msgMax,
	})
}

// framedPing bounces pingSize-byte messages off framedPong through two framed rings.
func framedPing(r role) error {
	p, err := framedRing(r.Name, framedPingCap)
	if err != nil {
		return err
	}
	defer p.Close()
	c, err := consumer.AttachFramed(segment.SharedMemory(r.Back), consumer.Options{Name: "ping", Wait: coordination.BusySpin(), AttachTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := waitForConsumer(p.Segment().View(), 10*time.Second); err != nil {
		return err
	}
	var want []byte
	check := func(msg []byte, _ uint64, _ bool) error {
		if !bytes.Equal(msg, want) {
			return errWrongReply
		}
		return nil
	}
	return pingLoop(r, p.Publish, func(w []byte) error {
		want = w
		return c.Read(check)
	})
}

// framedPong publishes every message it reads straight from its slots into the other ring.
func framedPong(r role) error {
	p, err := framedRing(r.Back, framedPingCap)
	if err != nil {
		return err
	}
	defer p.Close()
	c, err := consumer.AttachFramed(segment.SharedMemory(r.Name), consumer.Options{Name: "pong", Wait: coordination.BusySpin(), AttachTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	echo := func(msg []byte, _ uint64, _ bool) error { return p.Publish(msg) }
	for i := 0; i < r.Events; i++ {
		if err := c.Read(echo); err != nil {
			return err
		}
	}
	return nil
}

func fixedRing(name string) (*producer.Producer[fixedMessage], error) {
	return producer.Create[fixedMessage](segment.SharedMemory(name), producer.Options{Capacity: fixedPingCap, Wait: coordination.BusySpin(), Registry: 2})
}

// fixedPing is framedPing through two rings of fixedMessage events holding pingSize bytes.
func fixedPing(r role) error {
	p, err := fixedRing(r.Name)
	if err != nil {
		return err
	}
	defer p.Close()
	c, err := consumer.Attach[fixedMessage](segment.SharedMemory(r.Back), consumer.Options{Name: "ping", Wait: coordination.BusySpin(), AttachTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := waitForConsumer(p.Segment().View(), 10*time.Second); err != nil {
		return err
	}
	var msg, want []byte
	fill := func(e *fixedMessage) {
		e.Len = uint32(len(msg))
		copy(e.Payload[:], msg)
	}
	check := func(e *fixedMessage, _ uint64, _ bool) error {
		if e.Len > msgMax || !bytes.Equal(e.Payload[:e.Len], want) {
			return errWrongReply
		}
		return nil
	}
	return pingLoop(r, func(m []byte) error {
		msg = m
		return p.Publish(fill)
	}, func(w []byte) error {
		want = w
		_, err := c.Process(check, 1)
		return err
	})
}

// fixedPong publishes every event's Len bytes it reads straight from its slot into the other ring.
func fixedPong(r role) error {
	p, err := fixedRing(r.Back)
	if err != nil {
		return err
	}
	defer p.Close()
	c, err := consumer.Attach[fixedMessage](segment.SharedMemory(r.Name), consumer.Options{Name: "pong", Wait: coordination.BusySpin(), AttachTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	var in *fixedMessage
	fill := func(e *fixedMessage) {
		e.Len = in.Len
		copy(e.Payload[:in.Len], in.Payload[:in.Len])
	}
	echo := func(e *fixedMessage, _ uint64, _ bool) error {
		if e.Len > msgMax {
			return fmt.Errorf("length %d over %d", e.Len, msgMax)
		}
		in = e
		return p.Publish(fill)
	}
	for i := 0; i < r.Events; i++ {
		if _, err := c.Process(echo, 1); err != nil {
			return err
		}
	}
	return nil
}
