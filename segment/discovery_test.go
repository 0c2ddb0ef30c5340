package segment_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

// TestScan_ClassifiesHeaders puts a valid segment, one with its magic overwritten, an empty
// object, a zeroed one and another program's object under one prefix.
func TestScan_ClassifiesHeaders(t *testing.T) {
	prefix := fmt.Sprintf("/rwseg-%d-scan-", os.Getpid())
	create := func(label string) (segment.Backing, *layout.Header) {
		b := segment.SharedMemory(rwName(t, "scan-"+label))
		s, err := segment.Create(b, config(), segment.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() { s.Release() })
		return b, s.View().Header()
	}
	valid, _ := create("a-valid")
	damaged, h := create("b-damaged")
	h.Magic = 0
	write := func(label string, data []byte) segment.Backing {
		b := segment.SharedMemory(rwName(t, "scan-"+label))
		require.NoError(t, os.WriteFile("/dev/shm"+b.Name(), data, 0o600))
		return b
	}
	empty := write("c-empty", nil)
	zeroed := write("d-zeroed", make([]byte, 8192))
	write("e-foreign", []byte("#!/bin/sh\necho this is not a segment, nor anything like one, at all\n"+string(make([]byte, 600))))
	write("f-short-zeros", make([]byte, 32)) // a named semaphore's size: too short to be ours

	found, err := segment.Scan(prefix)
	require.NoError(t, err)
	got := map[segment.Backing]segment.HeaderKind{}
	for _, f := range found {
		require.NoError(t, f.Err)
		got[f.Backing] = f.Header
	}
	require.Equal(t, map[segment.Backing]segment.HeaderKind{
		valid:   segment.HeaderMagic,
		damaged: segment.HeaderDamaged,
		empty:   segment.HeaderBlank,
		zeroed:  segment.HeaderBlank,
	}, got)
	bs, err := segment.List(prefix)
	require.NoError(t, err)
	require.Equal(t, []segment.Backing{valid}, bs)
}
