package producer_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// TestProducer_Attach_SingleModeRefused: a second producer cannot join a Single producer's ring.
func TestProducer_Attach_SingleModeRefused(t *testing.T) {
	name := shmName(t)
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{})
	require.NoError(t, err)
	defer p.Close()
	_, err = producer.Attach[event](segment.SharedMemory(name), 0, producer.Options{})
	require.ErrorIs(t, err, producer.ErrWrongMode)
}
