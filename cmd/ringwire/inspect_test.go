package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// TestInspect_JSON_ClosedMultiRing_PrintsTheSnapshot closes a real multi-producer ring with a
// consumer behind: inspect --json prints its segment.Snapshot, whose published count has no
// closed bit.
func TestInspect_JSON_ClosedMultiRing_PrintsTheSnapshot(t *testing.T) {
	name := segName(t, "json")
	p, err := producer.Create[Event](segment.SharedMemory(name), producer.Options{Mode: producer.Multi, Capacity: 64, Keep: true})
	require.NoError(t, err)
	c, err := consumer.Attach[Event](segment.SharedMemory(name), consumer.Options{Name: "json-probe", Start: consumer.StartOldest})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, p.PublishBatch(5, func(i int, ev *Event) { ev.fill(uint64(i)) }))
	require.NoError(t, p.Close())

	code, out, errOut := runHere("inspect", "--json", name)
	require.Equal(t, exitOK, code, errOut)
	var s segment.Snapshot
	require.NoError(t, json.Unmarshal([]byte(out), &s), out)
	require.Equal(t, segment.SharedMemory(name), s.Backing)
	require.Equal(t, "multi", s.Mode)
	require.Equal(t, "closed", s.Stream)
	require.True(t, s.ClaimsClosed)
	require.Equal(t, uint64(5), s.Published)
	require.Equal(t, uint32(os.Getpid()), s.CreatorPID)
	require.Len(t, s.Consumers, 1)
	require.Equal(t, "json-probe", s.Consumers[0].Name)
	require.Equal(t, int64(5), s.Consumers[0].Lag)

	code, out, errOut = runHere("inspect", name)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "claimed      5 (closed to further claims)")
	require.Contains(t, out, "producer     closed (no more events)")
	require.True(t, strings.Contains(out, "json-probe"), out)
}

// TestInspect_FramedRing_ShowsTheFrameGeometry: inspect shows a framed ring's payload kind and
// largest message, in text and in the JSON snapshot, and a corrupted geometry as invalid.
func TestInspect_FramedRing_ShowsTheFrameGeometry(t *testing.T) {
	name := segName(t, "framed")
	p, err := producer.CreateFramed(segment.SharedMemory(name), producer.FramedOptions{
		Options: producer.Options{Capacity: 64, Keep: true, TypeName: "orders.v1"}, SlotSize: 128})
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.Publish([]byte("hello")))

	code, out, errOut := runHere("inspect", "--json", name)
	require.Equal(t, exitOK, code, errOut)
	var s segment.Snapshot
	require.NoError(t, json.Unmarshal([]byte(out), &s), out)
	require.NotNil(t, s.Frames)
	require.Equal(t, segment.FramesInfo{HeaderLen: 16, MaxMessage: 64/8*128 - 16}, *s.Frames)
	require.Equal(t, uint16(1), s.VersionMinor)

	code, out, errOut = runHere("inspect", name)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "payload      framed messages: largest 1008 bytes, frame header 16 bytes")
	require.Contains(t, out, `messages "orders.v1"`)

	p.Segment().View().Header().FrameHeaderLen = 8 // a peer corrupts the geometry
	code, out, errOut = runHere("inspect", name)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "INVALID: bad frame geometry")
}
