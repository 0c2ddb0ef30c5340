package producer_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

func TestProducer_AwaitConsumers(t *testing.T) {
	name := testseg.Name(t)
	_, err := producer.Create[event](segment.SharedMemory(name), producer.Options{
		Await: producer.Await{Names: []string{"risk"}, Timeout: 20 * time.Millisecond}})
	require.ErrorIs(t, err, coordination.ErrAwaitTimeout)
	require.Contains(t, err.Error(), "risk")
	_, err = os.Stat("/dev/shm" + name)
	require.ErrorIs(t, err, os.ErrNotExist, "a producer that gave up removes its segment")

	got := make(chan error, 1)
	go func() {
		p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{
			Await: producer.Await{Consumers: 2, Names: []string{"risk"}, Timeout: 5 * time.Second}})
		if err == nil {
			err = p.Close()
		}
		got <- err
	}()
	var cs []*consumer.Consumer[event]
	for _, n := range []string{"audit", "risk"} {
		c, err := consumer.Attach[event](segment.SharedMemory(name), consumer.Options{Name: n, AttachTimeout: 5 * time.Second})
		require.NoError(t, err)
		cs = append(cs, c)
	}
	require.NoError(t, <-got)
	for _, c := range cs {
		c.Close()
	}
}
