// The benchmark harness (rwbench): its own module, so that its dependencies (HdrHistogram) stay
// out of the library's go.mod. It builds against the library in this checkout.
module github.com/ringwire/ringwire/bench

go 1.26.8

require (
	github.com/HdrHistogram/hdrhistogram-go v1.1.2
	github.com/ringwire/ringwire v0.0.0
	github.com/stretchr/testify v1.12.1
)

require (
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace github.com/ringwire/ringwire => ../
