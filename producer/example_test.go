package producer_test

import (
	"fmt"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

type Trade struct {
	ID    uint64
	Price float64
	Qty   int64
}

// A heap ring in one process; across processes, use segment.SharedMemory("/trades") for the
// producer and consumer.Attach with the same backing in the other process.
func Example() {
	p, err := producer.Create[Trade](segment.Heap(), producer.Options{Capacity: 1024})
	if err != nil {
		panic(err)
	}
	c, err := consumer.Register[Trade](p.Segment(), consumer.Options{Name: "risk"})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	_ = p.PublishBatch(3, func(i int, t *Trade) { *t = Trade{ID: uint64(i), Price: 100.5 + float64(i), Qty: 10} })
	_ = p.Close() // consumers drain what was published, then see the end of the stream

	_ = c.Run(func(t *Trade, seq uint64, endOfBatch bool) error {
		fmt.Println(seq, t.Price, endOfBatch)
		return nil
	})
	// Output:
	// 0 100.5 false
	// 1 101.5 false
	// 2 102.5 true
}
