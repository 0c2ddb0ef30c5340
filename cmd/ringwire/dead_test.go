package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestListAndInspect_ProducerKilled_ShowOpenDead kills a real producer process with SIGKILL: its
// stream is still open (nobody closed it) but no more events will come, which list and inspect
// must show as "open (dead)".
func TestListAndInspect_ProducerKilled_ShowOpenDead(t *testing.T) {
	name := segName(t, "dead")
	pid := killedCreator(t, name)

	code, out, errOut := runHere("list", name)
	require.Equal(t, exitOK, code, errOut)
	var row string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, name+" ") {
			row = line
		}
	}
	require.Contains(t, row, strconv.Itoa(pid)+" (dead)", out)
	require.Contains(t, row, "open (dead)", out)

	code, out, errOut = runHere("inspect", name)
	require.Equal(t, exitOK, code, errOut)
	require.Regexp(t, `(?m)^producer +open \(dead\), heartbeat`, out)
}
