package layout

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/ringwire/ringwire/internal/fnv1a"
)

// EventType describes the fixed-size event a segment carries (spec section 7).
type EventType struct {
	Name        string // informational, at most 64 bytes
	Descriptor  string // canonical descriptor; empty when only the fingerprint is known
	Size        uint32
	Align       uint32
	Fingerprint uint64 // FNV-1a 64 of Descriptor
}

// Fingerprint returns FNV-1a 64 of a canonical type descriptor (spec section 7; the hash lives in
// internal/fnv1a, which naming shares).
func Fingerprint(descriptor string) uint64 { return fnv1a.Sum64([]byte(descriptor)) }

// TypeOf describes the Go type T as a shared event. It refuses, with ErrNotRepresented, any type
// whose bytes are not the same in every process and language: pointers, strings, slices, maps,
// interfaces, channels, functions and the host-sized int, uint and uintptr.
func TypeOf[T any]() (EventType, error) {
	return Describe(reflect.TypeFor[T]())
}

// Describe is TypeOf for a reflect.Type.
func Describe(t reflect.Type) (EventType, error) {
	var b strings.Builder
	if err := describe(&b, t, t.String()); err != nil {
		return EventType{}, err
	}
	if t.Size() == 0 || t.Size() > MaxEventSize {
		return EventType{}, fmt.Errorf("%w: %s is %d bytes; events are 1 to %d bytes", ErrNotRepresented, t, t.Size(), MaxEventSize)
	}
	fmt.Fprintf(&b, ":%d:%d", t.Size(), t.Align())
	name := t.String()
	if len(name) > TypeNameMax {
		name = name[:TypeNameMax]
	}
	d := b.String()
	return EventType{Name: name, Descriptor: d, Size: uint32(t.Size()), Align: uint32(t.Align()), Fingerprint: Fingerprint(d)}, nil
}

// LocalTypeOf describes any Go type T for a ring that never leaves this process (a heap
// backing): T may hold Go pointers, strings and slices, because its slots are an ordinary Go
// slice the garbage collector scans. The descriptor is "go:" and the Go type's name, so such a
// ring can never be mistaken for a shared one.
func LocalTypeOf[T any]() EventType {
	t := reflect.TypeFor[T]()
	d := fmt.Sprintf("go:%s:%d:%d", t.String(), t.Size(), t.Align())
	name := t.String()
	if len(name) > TypeNameMax {
		name = name[:TypeNameMax]
	}
	size := max(uint32(t.Size()), 1)
	return EventType{Name: name, Descriptor: d, Size: size, Align: uint32(t.Align()), Fingerprint: Fingerprint(d)}
}

func describe(b *strings.Builder, t reflect.Type, path string) error {
	switch t.Kind() {
	case reflect.Uint8:
		b.WriteString("u8")
	case reflect.Int8:
		b.WriteString("i8")
	case reflect.Uint16:
		b.WriteString("u16")
	case reflect.Int16:
		b.WriteString("i16")
	case reflect.Uint32:
		b.WriteString("u32")
	case reflect.Int32:
		b.WriteString("i32")
	case reflect.Uint64:
		b.WriteString("u64")
	case reflect.Int64:
		b.WriteString("i64")
	case reflect.Float32:
		b.WriteString("f32")
	case reflect.Float64:
		b.WriteString("f64")
	case reflect.Bool:
		b.WriteString("b8")
	case reflect.Complex64:
		b.WriteString("c64")
	case reflect.Complex128:
		b.WriteString("c128")
	case reflect.Array:
		b.WriteString("[" + strconv.Itoa(t.Len()) + "]")
		return describe(b, t.Elem(), path+"[]")
	case reflect.Struct:
		b.WriteString("struct{")
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if i > 0 {
				b.WriteByte(',')
			}
			if err := describe(b, f.Type, path+"."+f.Name); err != nil {
				return err
			}
			b.WriteString("@" + strconv.FormatUint(uint64(f.Offset), 10))
		}
		b.WriteString("}")
	case reflect.Int, reflect.Uint, reflect.Uintptr:
		return fmt.Errorf("%w: %s is %s, whose size depends on the host; use a fixed-width type such as int64",
			ErrNotRepresented, path, t.Kind())
	default:
		return fmt.Errorf("%w: %s is a %s, which holds a Go pointer; shared events must be plain fixed-size data",
			ErrNotRepresented, path, t.Kind())
	}
	return nil
}
