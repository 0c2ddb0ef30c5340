package main

import (
	"fmt"
	"os"

	"github.com/ringwire/ringwire/conformance"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/naming"
)

// validate FILE: spec section 5.2, checks 1 to 12, on a segment image file, and check 14 on a
// framed one.
func validate(args []string) error {
	if len(args) != 1 {
		return usagef("validate takes exactly one FILE")
	}
	raw, err := os.ReadFile(args[0])
	if err != nil {
		return fail("io", exitIO, err)
	}
	v, err := layout.Open(conformance.Aligned(raw))
	if err != nil {
		return classify(err)
	}
	framed, err := checkFramed(v)
	if err != nil {
		return err
	}
	h := v.Header()
	emit(struct {
		Event    string `json:"event"`
		Major    uint16 `json:"major"`
		Minor    uint16 `json:"minor"`
		Capacity uint64 `json:"capacity"`
		SlotSize uint32 `json:"slot_size"`
		Mode     string `json:"mode"`
		Registry uint32 `json:"registry"`
		*framedValid
	}{"valid", h.VersionMajor, h.VersionMinor, h.Capacity, h.SlotSize, layout.ModeName(h.ProducerMode), h.RegistryCapacity, framed})
	return nil
}

// golden SCENARIO FILE: writes the scenario's segment image.
func golden(args []string) error {
	if len(args) != 2 {
		return usagef("golden takes SCENARIO FILE")
	}
	img, err := conformance.Golden(args[0])
	if err != nil {
		return usagef("%v", err)
	}
	if err := os.WriteFile(args[1], img, 0o644); err != nil {
		return fail("io", exitIO, fmt.Errorf("write golden image: %w", err))
	}
	return nil
}

// name LABEL: prints naming.Portable(LABEL) and nothing else.
func name(args []string) error {
	if len(args) != 1 {
		return usagef("name takes exactly one LABEL")
	}
	fmt.Println(naming.Portable(args[0]))
	return nil
}
