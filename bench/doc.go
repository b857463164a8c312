// Package bench is the load generator behind `gannet bench`.
//
// Not built yet; engine benchmarks live beside the engine (`make bench`).
package bench
