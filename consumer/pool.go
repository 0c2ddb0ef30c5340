package consumer

import "github.com/ringwire/ringwire/ring"

// Pool deals the sequences of one stage out to its workers: each sequence goes to exactly one
// consumer of the pool, for handlers too slow to keep up alone. Each worker is a registered
// consumer whose cursor stays at the sequence it is working on, so the producer (and any stage
// reading behind the pool) waits for the slowest sequence in progress. A Pool lives in one
// process; it is safe for concurrent use by its workers.
type Pool = ring.Pool

// NewPool returns a pool whose first sequence is start (the producer's count when the stage
// begins; 0 for a new ring).
func NewPool(start uint64) *Pool { return ring.NewPool(start) }

// processPooled claims the pool's next sequence, waits for it, and hands it to h.
func (c *Consumer[T]) processPooled(h HandlerFunc[T]) (int, error) {
	if err := c.r.TakeFromPool(); err != nil {
		return 0, err
	}
	return c.run(h, 1)
}
