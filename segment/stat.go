package segment

import (
	"fmt"
	"time"

	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
)

// Stat maps the segment at b briefly and takes its snapshot, under Guard: a segment that another
// process truncates while it is read gives ErrFault, never a crash. A segment that cannot be
// snapshotted returns an error wrapping the reason (ErrNotFound, ErrNotRegular, os.ErrPermission,
// layout.ErrInitializing for one still being created, layout.ErrTruncated, ErrFault, or the
// validation sentinel of spec 5.2: layout.ErrBadMagic and the rest) together with a snapshot
// that holds only Backing, TakenAt and, as far as the header still holds them, the creator's pid
// and liveness (CreatorPID 0, Creator ProcessNone: unknown). The creator is read only while the
// header is recognizably ringwire's: its magic, or header_len and total_size that fit the file
// (HeaderDamaged).
func Stat(b Backing) (Snapshot, error) {
	s := Snapshot{Backing: b, TakenAt: time.Now(), Creator: ProcessNone}
	path, err := b.path()
	if err != nil {
		return s, err
	}
	err = Guard(func() error {
		mem, err := mapExisting(b, path)
		if err != nil {
			return err
		}
		defer sys.Unmap(mem)
		v, err := layout.Open(mem)
		if err != nil {
			k := classify(mem, int64(len(mem)))
			if h, ok := layout.RawHeader(mem); ok && (k == HeaderMagic || k == HeaderDamaged) {
				s.CreatorPID, s.CreatorStartTime = h.CreatorPID, h.CreatorStartTime
				s.Creator = creatorLiveness(h.CreatorPID, h.CreatorStartTime)
			}
			return fmt.Errorf("stat %s: %w", b, err)
		}
		s = TakeSnapshot(b, v)
		return nil
	})
	if err != nil {
		return Snapshot{Backing: s.Backing, TakenAt: s.TakenAt, CreatorPID: s.CreatorPID,
			CreatorStartTime: s.CreatorStartTime, Creator: s.Creator}, err
	}
	return s, nil
}
