package ring_test

import (
	"fmt"

	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/ring"
	"github.com/ringwire/ringwire/segment"
)

// A producer writes the bytes of a claim of three slots that wraps around a ring of four; a
// consumer reads them back slot by slot and releases them.
func Example() {
	et, _ := layout.TypeOf[[8]byte]()
	p, err := ring.Create(segment.Heap(), ring.Events{Type: et}, ring.ProducerOptions{Capacity: 4})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	c, err := ring.RegisterConsumer(p.Segment(), et, ring.ConsumerOptions{Name: "reader"})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	for _, words := range [][]string{{"a"}, {"b"}, {"wrap", "ping", "pong"}} {
		cl, _ := p.Claim(len(words))
		first, second := cl.Spans()
		fmt.Printf("claim of %d from %d: %d slot(s) before the wrap, %d after\n", cl.Len(), cl.Start(), first.Len, second.Len)
		for i, w := range words {
			b, _ := cl.Bytes()
			if i >= int(first.Len) {
				_, b = cl.Bytes()
				i -= int(first.Len)
			}
			copy(b[i*8:(i+1)*8], w)
		}
		_ = p.PublishClaim(cl)

		_ = c.Wait()
		start, end, _ := c.Range(0)
		for s := start; s < end; s++ {
			fmt.Printf("  %d: %s\n", s, c.SlotBytes(s)[:len(words[s-start])])
		}
		c.Release(end)
	}
	// Output:
	// claim of 1 from 0: 1 slot(s) before the wrap, 0 after
	//   0: a
	// claim of 1 from 1: 1 slot(s) before the wrap, 0 after
	//   1: b
	// claim of 3 from 2: 2 slot(s) before the wrap, 1 after
	//   2: wrap
	//   3: ping
	//   4: pong
}
