package consumer

import (
	"sync/atomic"

	"github.com/ringwire/ringwire/coordination"
)

// Pool deals the sequences of one stage out to its workers: each sequence goes to exactly one
// consumer of the pool, for handlers too slow to keep up alone. Each worker is a registered
// consumer whose cursor stays at the sequence it is working on, so the producer (and any stage
// reading behind the pool) waits for the slowest sequence in progress. A Pool lives in one
// process; it is safe for concurrent use by its workers.
type Pool struct {
	_    [64]byte // keep the contended counter off its neighbours' cache lines
	next atomic.Uint64
	_    [56]byte
}

// NewPool returns a pool whose first sequence is start (the producer's count when the stage
// begins; 0 for a new ring).
func NewPool(start uint64) *Pool {
	p := &Pool{}
	p.next.Store(start)
	return p
}

// processPooled claims the pool's next sequence, waits for it, and hands it to h.
func (c *Consumer[T]) processPooled(h HandlerFunc[T]) (int, error) {
	s := c.pool.next.Add(1) - 1
	c.next, c.avail = s, 0
	c.entry.Cursor.Store(s) // finished with everything of ours below s
	coordination.Notify(&c.wait.Producer)
	coordination.Notify(&c.wait.Consumer)
	if err := c.waitFor(); err != nil {
		return 0, err
	}
	return c.run(h, 1)
}
