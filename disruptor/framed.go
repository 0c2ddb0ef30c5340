package disruptor

import (
	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// MessageHandler receives the messages of one stage of a Framed disruptor in order. msg aliases
// the ring and is valid only during the call; endOfBatch is true on the last message of the run
// that was available when the batch began. A returned error (or a panic) goes to the exception
// policy.
type MessageHandler interface {
	OnMessage(msg []byte, seq uint64, endOfBatch bool) error
}

// MessageHandlerFunc adapts a function to MessageHandler.
type MessageHandlerFunc func(msg []byte, seq uint64, endOfBatch bool) error

// OnMessage calls f.
func (f MessageHandlerFunc) OnMessage(msg []byte, seq uint64, endOfBatch bool) error {
	return f(msg, seq, endOfBatch)
}

// FramedOptions configure a Framed disruptor: Options (Size is the ring's slots), and the frame
// geometry of producer.FramedOptions.
type FramedOptions struct {
	Options
	SlotSize   uint32 // bytes per slot, a multiple of 16 above 16; 0 means 128
	MaxMessage uint32 // largest message; 0 means an eighth of the ring less the frame header
}

// Framed is a disruptor whose ring carries variable-length messages (spec section 11) on heap
// memory: stages, pipelines and diamonds as with Disruptor, each handler handed every message in
// place as a []byte. There are no work pools: they deal out sequences, and a message spans
// several. Publishing is safe for
// concurrent use in Multi mode; other methods are safe for concurrent use.
type Framed struct {
	*engine[[]byte]
	prod *producer.Framed
}

// NewFramed creates a Framed disruptor over a heap ring.
func NewFramed(opts FramedOptions) (*Framed, error) {
	opts.defaults()
	e := &engine[[]byte]{opts: opts.Options}
	p, err := producer.CreateFramed(segment.Heap(), producer.FramedOptions{
		Options: producer.Options{Capacity: opts.Size, Registry: layout.MaxRegistry, Mode: opts.Producer,
			Wait: opts.Wait, Timeout: opts.PublishTimeout, Halt: &e.halt},
		SlotSize: opts.SlotSize, MaxMessage: opts.MaxMessage,
	})
	if err != nil {
		return nil, err
	}
	e.seg, e.closeProducer = p.Segment(), p.Close
	e.register = func(name string, after []string, pool *consumer.Pool) (stage[[]byte], error) {
		c, err := consumer.RegisterFramed(e.seg, consumer.Options{Name: name, After: after, Wait: opts.Wait, Halt: &e.halt})
		if err != nil {
			return nil, err
		}
		return framedStage{c}, nil
	}
	return &Framed{engine: e, prod: p}, nil
}

// framedStage is a stage of framed messages.
type framedStage struct{ *consumer.Framed }

func (s framedStage) process(h func([]byte, uint64, bool) error) (int, error) { return s.Process(h, 0) }

// FramedGroup is a set of message handlers that later stages can read behind.
type FramedGroup struct{ g group[[]byte] }

func onMessage(h MessageHandler) func([]byte, uint64, bool) error { return h.OnMessage }

// HandleMessagesWith adds handlers that each see every message, reading behind the producer.
func (d *Framed) HandleMessagesWith(hs ...MessageHandler) *FramedGroup {
	return &FramedGroup{add(d.engine, nil, hs, false, onMessage)}
}

// Then adds handlers that each see every message after every handler of g has finished with it.
func (g *FramedGroup) Then(hs ...MessageHandler) *FramedGroup {
	return &FramedGroup{add(g.g.e, g.g.procs, hs, false, onMessage)}
}

// And returns a group of the handlers of g and o, so that a later stage reads behind both.
func (g *FramedGroup) And(o *FramedGroup) *FramedGroup { return &FramedGroup{g.g.and(o.g)} }

// MaxMessage returns the largest message the ring carries.
func (d *Framed) MaxMessage() int { return d.prod.MaxMessage() }

// Publish copies msg into the ring as one message, waiting for room (Options.Wait,
// PublishTimeout); producer.ErrTooLarge for a message over MaxMessage, before anything is
// claimed.
func (d *Framed) Publish(msg []byte) error {
	if err := d.ready(); err != nil {
		return err
	}
	return d.prod.Publish(msg)
}

// TryPublish is Publish without waiting: a full ring is a *producer.FullError.
func (d *Framed) TryPublish(msg []byte) error {
	if err := d.ready(); err != nil {
		return err
	}
	return d.prod.TryPublish(msg)
}

// PublishBatch publishes msgs with one claim (see producer.Framed.PublishBatch).
func (d *Framed) PublishBatch(msgs [][]byte) error {
	if err := d.ready(); err != nil {
		return err
	}
	return d.prod.PublishBatch(msgs)
}

// Claim claims room for a message of up to n bytes to be written in place; publish it with
// PublishClaim or give it up with Abandon (see producer.Framed.Claim).
func (d *Framed) Claim(n int) (producer.MessageClaim, error) {
	if err := d.ready(); err != nil {
		return producer.MessageClaim{}, err
	}
	return d.prod.Claim(n)
}

// PublishClaim publishes the first used bytes of a claim's payload.
func (d *Framed) PublishClaim(c producer.MessageClaim, used int) error {
	return d.prod.PublishClaim(c, used)
}

// Abandon gives a claim up (its slots become padding).
func (d *Framed) Abandon(c producer.MessageClaim) error { return d.prod.Abandon(c) }
