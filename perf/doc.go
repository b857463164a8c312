// Package perf holds profiling flags, the /debug/pprof and /metrics
// listener, and the Prometheus collectors.
//
// Not built yet.
package perf
