// Command probe instantiates producer.Producer[T] and consumer.Consumer[T] in a package that does
// not import ring, as a user's package does: TestInline_TypedLayersInlineTheCore compiles it with
// -gcflags=-m and checks that ring's inline halves were inlined into the per-event paths.
package main

import (
	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

type event struct{ A, B uint64 }

func main() {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 8})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	c, err := consumer.Register[event](p.Segment(), consumer.Options{Name: "probe"})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	_ = p.Publish(func(e *event) { e.A = 1 })
	_ = p.PublishBatch(2, func(i int, e *event) { e.A = uint64(i) })
	cl, _ := p.Claim(1)
	first, _ := cl.Slices()
	first[0].B = 2
	_ = p.PublishClaim(cl)
	var e event
	_, _ = c.Read(&e)
	_, _ = c.Process(func(ev *event, _ uint64, _ bool) error { e = *ev; return nil }, 0)
	_, _ = c.ProcessSlices(func(evs []event, _ uint64) error { return nil }, 0)
}
