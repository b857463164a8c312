package broker

import "golang.org/x/sys/unix"

// totalMemory is the machine's physical memory in bytes (Java's
// StoreUtil.TOTAL_PHYSICAL_MEMORY_SIZE), 8 GiB if it cannot be read.
func totalMemory() int64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil || si.Totalram == 0 {
		return 8 << 30
	}
	unit := uint64(si.Unit)
	if unit == 0 {
		unit = 1
	}
	return int64(si.Totalram * unit)
}
