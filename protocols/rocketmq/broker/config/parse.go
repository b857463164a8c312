package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Issue is one thing wrong with a configuration: the line of the file it
// is on (0 when it does not come from a file), the key, and what is wrong.
type Issue struct {
	Line int
	Key  string
	Msg  string
}

func (i Issue) String() string {
	switch {
	case i.Line > 0 && i.Key != "":
		return fmt.Sprintf("line %d: %s: %s", i.Line, i.Key, i.Msg)
	case i.Line > 0:
		return fmt.Sprintf("line %d: %s", i.Line, i.Msg)
	case i.Key != "":
		return i.Key + ": " + i.Msg
	}
	return i.Msg
}

// Warning is an Issue that does not stop the broker: an unknown key, a
// RocketMQ key Gannet does not use, a key given twice.
type Warning = Issue

// Error lists every invalid value of a configuration, in line order.
type Error []Issue

func (e Error) Error() string {
	var b strings.Builder
	if len(e) == 1 {
		b.WriteString("config: ")
		b.WriteString(e[0].String())
		return b.String()
	}
	fmt.Fprintf(&b, "config: %d invalid values:", len(e))
	for _, i := range e {
		b.WriteString("\n\t")
		b.WriteString(i.String())
	}
	return b.String()
}

// maxFileSize bounds what Parse reads.
const maxFileSize = 1 << 20

// Parse reads a broker.properties file (Java properties syntax, see
// readProperties) over Default. Unknown keys are warnings. If any value is
// invalid, or the values do not fit together (Validate), the error is an
// Error listing every problem with its line.
//
// Keys derived from others follow them unless given: haListenPort is
// listenPort+1, brokerIP2 is brokerIP1, storePathCommitLog is
// <storePathRootDir>/commitlog.
func Parse(r io.Reader) (Broker, []Warning, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return Broker{}, nil, err
	}
	if len(data) > maxFileSize {
		return Broker{}, nil, fmt.Errorf("config: file larger than %d bytes", maxFileSize)
	}
	props, issues := readProperties(string(data))
	b := Default()
	var warnings []Warning
	lines := map[string]int{}
	for _, p := range props {
		k, ok := lookup(p.key)
		if !ok {
			warnings = append(warnings, unknownKey(p))
			continue
		}
		if prev, dup := lines[p.key]; dup {
			warnings = append(warnings, Warning{Line: p.line, Key: p.key, Msg: fmt.Sprintf("also set on line %d; this value counts", prev)})
		}
		lines[p.key] = p.line
		if err := k.set(&b, p.value); err != nil {
			issues = append(issues, Issue{Line: p.line, Key: p.key, Msg: err.Error()})
		}
	}
	if _, ok := lines["brokerIP2"]; !ok {
		b.BrokerIP2 = b.BrokerIP1
	}
	if _, ok := lines["haListenPort"]; !ok || b.HAListenPort == 0 {
		b.HAListenPort = b.ListenPort + 1
	}
	if _, ok := lines["storePathCommitLog"]; !ok {
		b.StorePathCommitLog = filepath.Join(b.StorePathRootDir, "commitlog")
	}
	issues = append(issues, b.crossCheck(lines)...)
	if len(issues) > 0 {
		slices.SortStableFunc(issues, func(a, b Issue) int { return a.Line - b.Line })
		return Broker{}, warnings, Error(issues)
	}
	return b, warnings, nil
}

func unknownKey(p property) Warning {
	if slices.Contains(unusedJavaKeys, p.key) {
		return Warning{Line: p.line, Key: p.key, Msg: "RocketMQ key that Gannet does not use; ignored"}
	}
	for _, k := range keys {
		if strings.EqualFold(k.name, p.key) {
			return Warning{Line: p.line, Key: p.key, Msg: fmt.Sprintf("unknown key, ignored (did you mean %s?)", k.name)}
		}
	}
	return Warning{Line: p.line, Key: p.key, Msg: "unknown key, ignored"}
}

// Load parses the file at path; errors name the file.
func Load(path string) (Broker, []Warning, error) {
	f, err := os.Open(path)
	if err != nil {
		return Broker{}, nil, err
	}
	defer f.Close()
	b, w, err := Parse(f)
	if err != nil {
		return Broker{}, w, fmt.Errorf("%s: %w", path, err)
	}
	return b, w, nil
}

// Set changes one key, as a command-line override does, checking the value
// as Parse does; an unknown key is an error. A key derived from key
// follows it if it still held the derived value (listenPort moves
// haListenPort, brokerIP1 brokerIP2, storePathRootDir storePathCommitLog).
// Checks between keys wait for Validate, so overrides may come in any order.
func (b *Broker) Set(name, value string) error {
	k, ok := lookup(name)
	if !ok {
		return Error{{Key: name, Msg: "unknown key"}}
	}
	old := *b
	if err := k.set(b, strings.TrimSpace(value)); err != nil {
		return Error{{Key: name, Msg: err.Error()}}
	}
	switch name {
	case "listenPort":
		if old.HAListenPort == old.ListenPort+1 {
			b.HAListenPort = b.ListenPort + 1
		}
	case "haListenPort":
		if b.HAListenPort == 0 {
			b.HAListenPort = b.ListenPort + 1
		}
	case "brokerIP1":
		if old.BrokerIP2 == old.BrokerIP1 {
			b.BrokerIP2 = b.BrokerIP1
		}
	case "storePathRootDir":
		if old.StorePathCommitLog == filepath.Join(old.StorePathRootDir, "commitlog") {
			b.StorePathCommitLog = filepath.Join(b.StorePathRootDir, "commitlog")
		}
	}
	return nil
}

// Get returns the value of key as Print writes it.
func (b *Broker) Get(name string) (string, bool) {
	k, ok := lookup(name)
	if !ok {
		return "", false
	}
	return k.get(b), true
}

// Validate checks every value and how they fit together, and reports every
// problem in one Error.
func (b *Broker) Validate() error {
	var issues []Issue
	for _, k := range keys {
		scratch := *b
		if err := k.set(&scratch, k.get(b)); err != nil {
			issues = append(issues, Issue{Key: k.name, Msg: err.Error()})
		}
	}
	if b.HAListenPort == 0 {
		issues = append(issues, Issue{Key: "haListenPort", Msg: "0 is only allowed in a file (it means listenPort+1)"})
	}
	issues = append(issues, b.crossCheck(nil)...)
	if len(issues) > 0 {
		return Error(issues)
	}
	return nil
}

// crossCheck reports values that do not fit together, on the lines of
// lines (a key's last line; 0 for keys not in it).
func (b *Broker) crossCheck(lines map[string]int) []Issue {
	var issues []Issue
	add := func(key, format string, args ...any) {
		issues = append(issues, Issue{Line: lines[key], Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	// BrokerStartup: a master is broker 0 (Java forces it silently), a
	// slave is not.
	switch {
	case b.EnableControllerMode:
		// The controller decides who is master; brokerId names the
		// replica (≥ 1), brokerRole says how it masters.
		if b.BrokerID < 1 {
			add("brokerId", "%d with enableControllerMode: each replica of a group needs its own brokerId ≥ 1", b.BrokerID)
		}
		if b.BrokerRole == Slave {
			add("brokerRole", "SLAVE with enableControllerMode: the controller picks the master; set SYNC_MASTER or ASYNC_MASTER for how it acknowledges")
		}
		if strings.TrimSpace(strings.ReplaceAll(b.ControllerAddr, ";", "")) == "" {
			add("controllerAddr", "empty with enableControllerMode")
		}
	case b.BrokerRole.IsMaster() && b.BrokerID != 0:
		add("brokerId", "%d with brokerRole %s: a master's brokerId must be 0", b.BrokerID, b.BrokerRole)
	case b.BrokerRole == Slave && b.BrokerID == 0:
		add("brokerId", "0 with brokerRole SLAVE: a slave's brokerId must be > 0")
	}
	if b.BrokerRole == SyncMaster && !b.HAEnable {
		add("haEnable", "false with brokerRole SYNC_MASTER: a sync master must listen for its slaves")
	}
	if b.HAListenPort == b.ListenPort {
		add("haListenPort", "%d is listenPort too", b.HAListenPort)
	}
	if int64(b.MaxMessageSize)+8 > b.MappedFileSizeCommitLog {
		add("maxMessageSize", "%d does not fit a CommitLog segment of %d bytes (mappedFileSizeCommitLog)", b.MaxMessageSize, b.MappedFileSizeCommitLog)
	}
	if b.MappedFileSizeCommitLog%4096 != 0 {
		add("mappedFileSizeCommitLog", "%d is not a multiple of 4096", b.MappedFileSizeCommitLog)
	}
	return issues
}

// Print writes the effective configuration, one key=value line per key
// sorted by key, in the syntax Parse reads back to the same Broker (the
// broker's -p).
func (b *Broker) Print(w io.Writer) error {
	var sb strings.Builder
	for _, k := range keys {
		sb.WriteString(k.name)
		sb.WriteByte('=')
		escapeValue(&sb, k.get(b))
		sb.WriteByte('\n')
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// Keys lists every key Gannet reads, sorted.
func Keys() []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.name
	}
	return out
}

// Apply sets each "key=value" override in order (command-line --set flags),
// stopping at the first that is malformed or invalid.
func (b *Broker) Apply(overrides []string) error {
	for _, kv := range overrides {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("config: override %q: want key=value", kv)
		}
		if err := b.Set(strings.TrimSpace(k), strings.TrimSpace(v)); err != nil {
			return err
		}
	}
	return nil
}
