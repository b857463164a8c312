//go:build !linux

package broker

// totalMemory is an assumed 8 GiB where the machine's memory is not read.
func totalMemory() int64 { return 8 << 30 }
