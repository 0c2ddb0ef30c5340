package coordination

// Default is the strategy producers, consumers and the disruptor wait with when their options
// name none: Blocking. A default must be safe on any machine and for any workload: a Blocking
// waiter costs no CPU while idle, and never starves other threads when more of them wait than
// there are cores, where a yielding or spinning default would burn a core per idle waiter (a
// consumer process waiting for a quiet producer, say) forever. The price is on the busy path:
// while a peer may block in the kernel, every publish and every consumer commit is a
// sequentially consistent store followed by a load of the waiters word (spec 5.6), instead of a
// plain release store. Where each waiting thread has a core of its own and latency matters
// most, choose Yield or BusySpin explicitly on every peer of the ring.
func Default() Strategy { return Blocking() }
