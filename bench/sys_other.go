//go:build !linux

package bench

import "os"

func fdatasync(f *os.File) error { return f.Sync() }

func fsType(string) string { return "unknown" }

// readProcStatus has no /proc to read outside Linux.
func readProcStatus() ProcStatus { return ProcStatus{} }
