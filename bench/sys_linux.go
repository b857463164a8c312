package bench

import (
	"bufio"
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// fsType names the file system that holds dir, from statfs's magic.
func fsType(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "unknown"
	}
	switch uint32(st.Type) {
	case unix.EXT4_SUPER_MAGIC:
		return "ext4" // ext2 and ext3 share the magic
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlay"
	case 0x2fc12fc1: // ZFS_SUPER_MAGIC, not in x/sys
		return "zfs"
	case unix.F2FS_SUPER_MAGIC:
		return "f2fs"
	case unix.NFS_SUPER_MAGIC:
		return "nfs"
	case unix.FUSE_SUPER_MAGIC:
		return "fuse"
	}
	return "0x" + strconv.FormatUint(uint64(uint32(st.Type)), 16)
}

// readProcStatus reads this process's resident memory from
// /proc/self/status; fields it cannot read stay zero.
func readProcStatus() ProcStatus {
	var ps ProcStatus
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ps
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte{':'})
		if !ok {
			continue
		}
		var dst *int64
		switch string(name) {
		case "RssAnon":
			dst = &ps.RssAnonKiB
		case "VmRSS":
			dst = &ps.VmRSSKiB
		case "VmHWM":
			dst = &ps.VmHWMKiB
		default:
			continue
		}
		fields := bytes.Fields(rest) // "12345", "kB"
		if len(fields) > 0 {
			*dst, _ = strconv.ParseInt(string(fields[0]), 10, 64)
		}
	}
	return ps
}
