package mqtt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	pahopackets "github.com/eclipse/paho.mqtt.golang/packets"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"
)

// Hashes at bcrypt's minimum cost keep the tests fast; the cost does not
// change what is being tested.
var testHashes sync.Map

func testHash(t testing.TB, pw string) string {
	if h, ok := testHashes.Load(pw); ok {
		return h.(string)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	testHashes.Store(pw, string(h))
	return string(h)
}

// The fixture the ACL table, the hook and the server tests share.
func fixtureText(t testing.TB) string {
	return fmt.Sprintf(`# test fixture
user alice %s
user bob   %s
user carol %s

rules user alice
deny  publish   sensors/%%u/config
allow both      sensors/%%u/#
deny  subscribe secret/#
allow subscribe #

rules user bob
allow publish   devices/%%c/up
deny  both      devices/%%c/private
allow subscribe devices/+/up
allow subscribe $SYS/broker/#

rules default
allow subscribe status/#
allow publish   shared/x
allow subscribe +/health

rules anonymous
allow subscribe public/#
allow publish   public/%%c
allow publish   tmp/in-%%c-out
allow publish   rate/100%%%%
`, testHash(t, "alice-pw"), testHash(t, "bob-pw"), testHash(t, "carol-pw"))
}

func fixture(t testing.TB) *Auth {
	t.Helper()
	a, err := parseAuth([]byte(fixtureText(t)), "fixture.conf")
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return a
}

func TestAuthAllowTable(t *testing.T) {
	a := fixture(t)
	const pub, sub = AccessPublish, AccessSubscribe
	cases := []struct {
		user, client, filter string
		access               Access
		want                 bool
	}{
		// first match wins: the deny before the broader allow
		{"alice", "c1", "sensors/alice/config", pub, false},
		{"alice", "c1", "sensors/alice/temp", pub, true},
		{"alice", "c1", "sensors/alice/#", sub, true},
		{"alice", "c1", "sensors/alice", sub, true}, // a/# matches a
		// %u is alice's name only
		{"alice", "c1", "sensors/bob/temp", pub, false},
		// no own rule for publishing here and the default list has none
		{"alice", "c1", "status/x", pub, false},
		// a deny covers only filters inside it; wider ones are granted and
		// filtered at delivery, where each topic is checked
		{"alice", "c1", "secret/x", sub, false},
		{"alice", "c1", "secret/+", sub, false},
		{"alice", "c1", "#", sub, true},
		{"alice", "c1", "+/x", sub, true},
		// wildcards in the first level do not reach $ topics
		{"alice", "c1", "$SYS/broker/load", sub, false},
		{"alice", "c1", "$SYS/#", sub, false},
		// shared subscriptions are checked without $share/GROUP/
		{"alice", "c1", "$share/g/secret/x", sub, false},
		{"alice", "c1", "$share/g/other/x", sub, true},
		{"carol", "c3", "$SHARE/g/status/#", sub, true},
		// carol has no list of her own: the default list
		{"carol", "c3", "status/a", sub, true},
		{"carol", "c3", "status", sub, true},
		{"carol", "c3", "status/a", pub, false},
		{"carol", "c3", "shared/x", pub, true},
		{"carol", "c3", "shared/y", pub, false},
		{"carol", "c3", "#", sub, false},
		{"carol", "c3", "db/health", sub, true},
		{"carol", "c3", "$SYS/health", sub, false},
		{"carol", "c3", "+/health", sub, true},
		{"carol", "c3", "+/+", sub, false},
		// %c
		{"bob", "dev1", "devices/dev1/up", pub, true},
		{"bob", "dev1", "devices/dev2/up", pub, false},
		{"bob", "dev1", "devices/+/up", sub, true},
		{"bob", "dev1", "devices/#", sub, false}, // not covered by devices/+/up
		{"bob", "dev1", "devices/dev1/private", sub, false},
		{"bob", "dev1", "devices/dev2/private", sub, false},
		{"bob", "dev1", "$SYS/broker/load", sub, true},
		{"bob", "dev1", "$SYS/#", sub, false},
		// bob's own list has nothing on status/: falls through to default
		{"bob", "dev1", "status/x", sub, true},
		// a client id that could widen a %c rule: allow grants nothing and
		// the deny refuses everything, even what another rule allows
		{"bob", "a/b", "devices/a/b/up", pub, false},
		{"bob", "+", "devices/+/up", pub, false},
		{"bob", "a/b", "devices/x/up", sub, false},
		{"bob", "#", "status/x", sub, false},
		// anonymous: its own list only, never the default list
		{"", "k1", "public/#", sub, true},
		{"", "k1", "public/k1", pub, true},
		{"", "k1", "public/k2", pub, false},
		{"", "k1", "status/x", sub, false},
		{"", "k1", "tmp/in-k1-out", pub, true},
		{"", "k1", "tmp/in-k1-outx", pub, false},
		{"", "k1", "tmp/in-k2-out", pub, false},
		{"", "k1", "rate/100%", pub, true},
		// unknown users get nothing, not even the default list
		{"mallory", "m", "status/x", sub, false},
		{"mallory", "m", "public/x", sub, false},
		// only one access kind at a time
		{"alice", "c1", "sensors/alice/temp", pub | sub, false},
	}
	for _, c := range cases {
		if got := a.Allow(c.user, c.client, c.filter, c.access); got != c.want {
			t.Errorf("Allow(%q, %q, %q, %d) = %v, want %v", c.user, c.client, c.filter, c.access, got, c.want)
		}
	}
}

// The example in the package documentation is what operators copy; it has
// to parse and mean what the text says.
func TestAuthDocExample(t *testing.T) {
	src, err := os.ReadFile("auth.go")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(src), "// Example:\n//\n")
	if !ok {
		t.Fatal("no example in the package documentation")
	}
	var b strings.Builder
	for _, l := range strings.Split(after, "\n") {
		if l == "//" {
			b.WriteString("\n")
			continue
		}
		body, ok := strings.CutPrefix(l, "//\t")
		if !ok {
			break
		}
		b.WriteString(body + "\n")
	}
	a, err := parseAuth([]byte(b.String()), "example")
	if err != nil {
		t.Fatalf("the documented example does not parse:\n%s\n%v", b.String(), err)
	}
	if len(a.users) != 2 {
		t.Fatalf("example has %d users, want 2", len(a.users))
	}
	checks := []struct {
		user, client, filter string
		access               Access
		want                 bool
	}{
		{"admin", "x", "anything/at/all", AccessPublish, true},
		{"admin", "x", "$SYS/broker/clients", AccessSubscribe, true},
		{"sensor1", "x", "sensors/sensor1/config", AccessPublish, false},
		{"sensor1", "x", "sensors/sensor1/temp", AccessPublish, true},
		{"sensor1", "x", "sensors/other/status", AccessSubscribe, true},
		{"", "x", "public/news", AccessSubscribe, true},
		{"", "x", "sensors/other/status", AccessSubscribe, false},
	}
	for _, c := range checks {
		if got := a.Allow(c.user, c.client, c.filter, c.access); got != c.want {
			t.Errorf("example: Allow(%q, %q, %d) = %v, want %v", c.user, c.filter, c.access, got, c.want)
		}
	}
}

func TestAuthConfigErrors(t *testing.T) {
	h := testHash(t, "pw")
	cases := []struct {
		name, text, want string
	}{
		{"unknown keyword", "user a H\npermit both #\n", "bad.conf:2: unknown keyword \"permit\""},
		{"user fields", "user a\n", "bad.conf:1: want \"user NAME HASH\""},
		{"plaintext password", "user a secret\n", "bad.conf:1: user \"a\": not a bcrypt hash"},
		{"argon2 hash", "user a $argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA\n", "bad.conf:1: user \"a\": not a bcrypt hash"},
		{"truncated hash", "user a " + h[:59] + "\n", "bad.conf:1: user \"a\": not a bcrypt hash"},
		{"mangled hash", "user a " + h[:30] + "!" + h[31:] + "\n", "bad.conf:1: user \"a\": not a bcrypt hash"},
		{"cost too high", "user a " + h[:4] + "17" + h[6:] + "\n", "bad.conf:1: user \"a\": bcrypt cost 17 is outside 4..16"},
		{"cost too low", "user a " + h[:4] + "03" + h[6:] + "\n", "bad.conf:1: user \"a\": bcrypt cost 3"},
		{"duplicate user", "user a H\n\nuser a H\n", "bad.conf:3: user \"a\" already defined on line 1"},
		{"username with slash", "user a/b H\n", "bad.conf:1: user \"a/b\": a username cannot contain"},
		{"rules for undefined user", "user a H\nrules user b\nallow both #\n", "bad.conf:2: rules for user \"b\", who has no"},
		{"rules without kind", "rules\n", "bad.conf:1: want \"rules user NAME\""},
		{"unknown rule list", "rules everyone\n", "bad.conf:1: unknown rule list \"everyone\""},
		{"rules user fields", "rules user\n", "bad.conf:1: want \"rules user NAME\", got 2 fields"},
		{"duplicate user rules", "user a H\nrules user a\nrules user a\n", "bad.conf:3: rules for user \"a\" already started on line 2"},
		{"duplicate default", "rules default\n# x\nrules default\n", "bad.conf:3: rules default already started on line 1"},
		{"duplicate anonymous", "rules anonymous\nrules anonymous\n", "bad.conf:2: rules anonymous already started on line 1"},
		{"extra after anonymous", "rules anonymous please\n", "bad.conf:1: unexpected \"please\""},
		{"rule before any list", "allow both #\n", "bad.conf:1: allow outside a rule list"},
		{"user line ends the list", "rules default\nuser a H\ndeny both x\n", "bad.conf:3: deny outside a rule list"},
		{"bad access", "rules default\nallow read #\n", "bad.conf:2: unknown access \"read\""},
		{"trailing comment", "rules default\nallow both a # everything\n", "bad.conf:2: want \"allow ACCESS FILTER\", got 5 fields (comments"},
		{"hash not last", "rules default\nallow both a/#/b\n", "bad.conf:2: filter \"a/#/b\": '#' must be the last level"},
		{"plus inside level", "rules default\nallow both a/b+/c\n", "bad.conf:2: filter \"a/b+/c\": '+' and '#' must take a whole level"},
		{"hash inside level", "rules default\nallow both a/b#\n", "bad.conf:2: filter \"a/b#\": '+' and '#'"},
		{"share prefix", "rules default\nallow subscribe $share/g/a\n", "bad.conf:2: filter \"$share/g/a\": rules match the filter inside $share/GROUP/"},
		{"unknown substitution", "rules default\nallow both a/%x\n", "bad.conf:2: filter \"a/%x\": unknown substitution %x"},
		{"percent at end", "rules default\nallow both a/b%\n", "bad.conf:2: filter \"a/b%\": '%' at the end of a level"},
		{"username in anonymous", "rules anonymous\nallow both users/%u\n", "bad.conf:2: filter \"users/%u\": %u in the anonymous rules"},
		{"invalid utf-8", "rules default\nallow both a/\xff\n", "bad.conf:2: not valid UTF-8"},
		{"nul byte", "rules default\nallow both a/\x00b\n", "bad.conf:2: contains a NUL byte"},
		{"crlf line numbers", "rules default\r\nallow both #\r\nallow both a/#/b\r\n", "bad.conf:3: filter \"a/#/b\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := strings.ReplaceAll(c.text, " H\n", " "+h+"\n")
			a, err := parseAuth([]byte(text), "bad.conf")
			if err == nil {
				t.Fatalf("parsed without error:\n%s", text)
			}
			if a != nil {
				t.Errorf("returned an Auth along with the error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, c.want)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %v holds no *ConfigError", err)
			}
		})
	}
}

func TestAuthConfigErrorsAllReported(t *testing.T) {
	text := "rules user nobody\nallow both a/#/b\nbogus\nallow read x\n"
	_, err := parseAuth([]byte(text), "f")
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"f:1: rules for user", "f:2: filter", "f:3: unknown keyword", "f:4: unknown access"}
	if len(lines) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
		}
	}

	// A file that is all wrong gives a bounded error.
	_, err = parseAuth(bytes.Repeat([]byte("nonsense\n"), 1000), "f")
	if n := strings.Count(err.Error(), "\n") + 1; n != maxErrors+1 {
		t.Errorf("1000 bad lines gave %d error lines, want %d", n, maxErrors+1)
	}
	if !strings.HasSuffix(err.Error(), "f: more errors not shown") {
		t.Errorf("bounded error does not say so: ...%s", err.Error()[len(err.Error())-60:])
	}
}

func TestAuthConfigAccepts(t *testing.T) {
	h := testHash(t, "pw")
	text := "\xef\xbb\xbf# BOM, CRLF, indentation and blank lines\r\n" +
		"  user a " + h + "\r\n\r\n" +
		"\trules user a\r\n" +
		"    # a comment inside a list\r\n" +
		"    allow both x//y\r\n" +
		"rules default\n" +
		"rules anonymous\n" // lists may be empty
	a, err := parseAuth([]byte(text), "ok.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Allow("a", "c", "x//y", AccessPublish) || a.Allow("a", "c", "x/y", AccessPublish) {
		t.Error("empty topic levels are not matched exactly")
	}
	if _, err := parseAuth(nil, "empty.conf"); err != nil {
		t.Errorf("an empty file is valid (nobody may log in): %v", err)
	}
}

func TestLoadAuth(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "auth.conf")
	if err := os.WriteFile(good, []byte(fixtureText(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := LoadAuth(good)
	if err != nil {
		t.Fatal(err)
	}
	if !a.CheckPassword("alice", []byte("alice-pw")) {
		t.Error("alice's password does not check")
	}

	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("user a b c d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAuth(bad); err == nil || !strings.HasPrefix(err.Error(), bad+":1: ") {
		t.Errorf("LoadAuth(bad) = %v, want an error starting %q", err, bad+":1: ")
	}
	missing := filepath.Join(dir, "missing.conf")
	if _, err := LoadAuth(missing); err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadAuth(missing) = %v, want a not-exist error naming the file", err)
	}
}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if cost, msg := checkHash(h); msg != "" || cost != bcrypt.DefaultCost {
		t.Errorf("HashPassword's hash: cost %d, problem %q", cost, msg)
	}
	a, err := parseAuth([]byte("user op "+h+"\n"), "x")
	if err != nil {
		t.Fatalf("HashPassword's hash is not accepted in a file: %v", err)
	}
	if !a.CheckPassword("op", []byte("correct horse")) || a.CheckPassword("op", []byte("correct horsE")) {
		t.Error("HashPassword's hash does not check its password only")
	}
	if _, err := HashPassword(""); err == nil {
		t.Error("HashPassword accepted an empty password")
	}
	if _, err := HashPassword(strings.Repeat("x", 73)); err == nil {
		t.Error("HashPassword accepted a password bcrypt would truncate")
	}
}

func TestUserLine(t *testing.T) {
	line, err := UserLine("op-1", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	a, err := parseAuth([]byte(line+"\n"), "x")
	if err != nil {
		t.Fatalf("UserLine's line %q does not parse: %v", line, err)
	}
	if !a.CheckPassword("op-1", []byte("s3cret")) {
		t.Errorf("UserLine's line %q does not check its password", line)
	}
	for _, bad := range []string{"", "a b", "a\tb", "a/b", "a+", "#", "\xff", "a\x00"} {
		if _, err := UserLine(bad, "pw"); err == nil {
			t.Errorf("UserLine(%q) made a line the file cannot hold", bad)
		}
	}
	if _, err := UserLine("op", ""); err == nil {
		t.Error("UserLine accepted an empty password")
	}
}

func TestAuthCheckPassword(t *testing.T) {
	long := strings.Repeat("p", 72)
	hLow := testHash(t, "low")
	hLong := testHash(t, long)
	h6, err := bcrypt.GenerateFromPassword([]byte("six"), 6)
	if err != nil {
		t.Fatal(err)
	}
	a, err := parseAuth([]byte("user low "+hLow+"\nuser six "+string(h6)+"\nuser long "+hLong+"\n"), "x")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		user, pw string
		want     bool
	}{
		{"low", "low", true},
		{"six", "six", true},
		{"low", "six", false},
		{"low", "", false},
		{"nobody", "low", false},
		{"", "", false},
		{"long", long, true},
		// bcrypt would accept this on its first 72 bytes
		{"long", long + "extra", false},
	}
	for _, c := range cases {
		if got := a.CheckPassword(c.user, []byte(c.pw)); got != c.want {
			t.Errorf("CheckPassword(%q, %q) = %v, want %v", c.user, c.pw, got, c.want)
		}
	}
	// The unknown user above went through a real comparison, against a hash
	// as costly as the costliest in the file.
	if a.dummy == nil {
		t.Fatal("an unknown user was refused without a bcrypt comparison")
	}
	if cost, err := bcrypt.Cost(a.dummy); err != nil || cost != 6 {
		t.Errorf("dummy hash cost = %d (%v), want 6, the file's highest", cost, err)
	}
}

func TestAnonymousAllowed(t *testing.T) {
	cases := []struct {
		addrs    []string
		explicit bool
		want     bool
		wantErr  bool
	}{
		{[]string{"127.0.0.1:1883"}, false, true, false},
		{[]string{"127.1.2.3:1883"}, false, true, false},
		{[]string{"[::1]:1883"}, false, true, false},
		{[]string{"[::ffff:127.0.0.1]:1883"}, false, true, false},
		{[]string{"localhost:1883"}, false, true, false},
		{[]string{"LocalHost:1883"}, false, true, false},
		{[]string{"127.0.0.1:1883", "[::1]:8883"}, false, true, false},
		{[]string{"127.0.0.1:1883", "0.0.0.0:8883"}, false, false, false},
		{[]string{":1883"}, false, false, false},
		{[]string{"0.0.0.0:1883"}, false, false, false},
		{[]string{"[::]:1883"}, false, false, false},
		{[]string{"10.0.0.5:1883"}, false, false, false},
		{[]string{"mqtt.example.com:1883"}, false, false, false},
		{[]string{"localhost.example.com:1883"}, false, false, false},
		{[]string{"[fe80::1%eth0]:1883"}, false, false, false},
		{nil, false, false, false},
		{[]string{":1883"}, true, true, false},
		{[]string{"0.0.0.0:1883"}, true, true, false},
		{nil, true, true, false},
		{[]string{"127.0.0.1"}, false, false, true},
		{[]string{"127.0.0.1:1883", "/run/mqtt.sock"}, true, false, true},
	}
	for _, c := range cases {
		got, err := AnonymousAllowed(c.addrs, c.explicit)
		if (err != nil) != c.wantErr {
			t.Errorf("AnonymousAllowed(%q, %v) error = %v, want error %v", c.addrs, c.explicit, err, c.wantErr)
			continue
		}
		if got != c.want {
			t.Errorf("AnonymousAllowed(%q, %v) = %v, want %v", c.addrs, c.explicit, got, c.want)
		}
	}
}

func TestChooseAuthHook(t *testing.T) {
	a := fixture(t)
	if _, err := ChooseAuthHook(nil, []string{":1883"}, false); err == nil || !strings.Contains(err.Error(), ":1883") {
		t.Errorf("no file on all interfaces: err = %v, want a refusal naming the address", err)
	}
	if _, err := ChooseAuthHook(a, []string{"bad"}, false); err == nil {
		t.Error("an unparsable listen address was accepted")
	}
	cases := []struct {
		auth     *Auth
		addrs    []string
		explicit bool
		wantID   string
		wantAnon bool
	}{
		{nil, []string{"127.0.0.1:1883"}, false, "gannet-allow-all", true},
		{nil, []string{":1883"}, true, "gannet-allow-all", true},
		{a, []string{"127.0.0.1:1883"}, false, "gannet-auth", true},
		{a, []string{":1883"}, false, "gannet-auth", false},
		{a, []string{":1883"}, true, "gannet-auth", true},
	}
	for _, c := range cases {
		h, err := ChooseAuthHook(c.auth, c.addrs, c.explicit)
		if err != nil {
			t.Errorf("ChooseAuthHook(%v, %q, %v): %v", c.auth != nil, c.addrs, c.explicit, err)
			continue
		}
		if h.ID() != c.wantID || h.allowAnonymous != c.wantAnon {
			t.Errorf("ChooseAuthHook(%v, %q, %v) = %s anonymous %v, want %s anonymous %v",
				c.auth != nil, c.addrs, c.explicit, h.ID(), h.allowAnonymous, c.wantID, c.wantAnon)
		}
	}
}

// The hook's answers for CONNECT, without a server: the combinations a
// client library does not easily produce.
func TestAuthHookConnect(t *testing.T) {
	a := fixture(t)
	connect := func(user, pw, will string) packets.Packet {
		pk := packets.Packet{}
		pk.Connect.Username = []byte(user)
		pk.Connect.UsernameFlag = user != ""
		pk.Connect.Password = []byte(pw)
		pk.Connect.PasswordFlag = pw != ""
		if will != "" {
			pk.Connect.WillFlag = true
			pk.Connect.WillTopic = will
		}
		return pk
	}
	cases := []struct {
		name       string
		hook       *AuthHook
		user, pw   string
		will       string
		wantAccept bool
	}{
		{"good password", NewAuthHook(a, false), "alice", "alice-pw", "", true},
		{"wrong password", NewAuthHook(a, true), "alice", "bob-pw", "", false},
		{"unknown user", NewAuthHook(a, true), "mallory", "x", "", false},
		{"anonymous not allowed", NewAuthHook(a, false), "", "", "", false},
		{"anonymous allowed", NewAuthHook(a, true), "", "", "", true},
		{"password without username", NewAuthHook(a, true), "", "alice-pw", "", false},
		{"will allowed", NewAuthHook(a, false), "alice", "alice-pw", "sensors/alice/gone", true},
		{"will denied", NewAuthHook(a, false), "alice", "alice-pw", "secret/x", false},
		{"will with wildcard", NewAuthHook(a, false), "alice", "alice-pw", "sensors/alice/+", false},
		{"anonymous will allowed", NewAuthHook(a, true), "", "", "public/anon1", true},
		{"anonymous will denied", NewAuthHook(a, true), "", "", "public/someone-else", false},
		{"no file, anonymous allowed", NewAuthHook(nil, true), "anyone", "anything", "any/will", true},
		{"no file, anonymous not allowed", NewAuthHook(nil, false), "", "", "", false},
	}
	for _, c := range cases {
		cl := &mochi.Client{ID: "anon1"}
		cl.Properties.Username = []byte(c.user)
		if got := c.hook.OnConnectAuthenticate(cl, connect(c.user, c.pw, c.will)); got != c.wantAccept {
			t.Errorf("%s: OnConnectAuthenticate = %v, want %v", c.name, got, c.wantAccept)
		}
	}

	h := NewAuthHook(a, true)
	if !h.Provides(mochi.OnConnectAuthenticate) || !h.Provides(mochi.OnACLCheck) || h.Provides(mochi.OnPublish) {
		t.Error("the hook must provide exactly OnConnectAuthenticate and OnACLCheck")
	}
	inline := &mochi.Client{ID: "inline"}
	inline.Net.Inline = true
	if !h.OnACLCheck(inline, "secret/x", false) {
		t.Error("the broker's inline client was denied")
	}
	if !h.OnACLCheck(&mochi.Client{ID: "x"}, "", true) {
		t.Error("a publish by topic alias alone was denied")
	}
}

// startServer runs a mochi server with hook on a random loopback port and
// returns its address.
func startServer(t *testing.T, hook mochi.Hook) string {
	t.Helper()
	s := mochi.New(&mochi.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.AddHook(hook, nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := s.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return l.Address() // the bound port, once the listener is initialised
}

type pahoClient struct {
	paho.Client
	msgs chan paho.Message
	lost chan error
}

// connectV3 connects an MQTT 3.1.1 client; the returned error is the
// CONNACK refusal, if any.
func connectV3(t *testing.T, addr, clientID, user, pw string, opt func(*paho.ClientOptions)) (*pahoClient, error) {
	t.Helper()
	pc := &pahoClient{msgs: make(chan paho.Message, 100), lost: make(chan error, 1)}
	o := paho.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(clientID).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { pc.msgs <- m }).
		SetConnectionLostHandler(func(_ paho.Client, err error) { pc.lost <- err })
	if user != "" {
		o.SetUsername(user).SetPassword(pw)
	}
	if opt != nil {
		opt(o)
	}
	pc.Client = paho.NewClient(o)
	tok := pc.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("connect %s: no CONNACK", clientID)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { pc.Disconnect(0) })
	return pc, nil
}

func mustConnectV3(t *testing.T, addr, clientID, user, pw string) *pahoClient {
	t.Helper()
	c, err := connectV3(t, addr, clientID, user, pw, nil)
	if err != nil {
		t.Fatalf("connect %s as %q: %v", clientID, user, err)
	}
	return c
}

func wait(t *testing.T, tok paho.Token) {
	t.Helper()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("token timed out")
	}
	if err := tok.Error(); err != nil {
		t.Fatal(err)
	}
}

// subscribeV3 returns the SUBACK return code for each filter.
func subscribeV3(t *testing.T, c *pahoClient, filters ...string) []byte {
	t.Helper()
	m := map[string]byte{}
	for _, f := range filters {
		m[f] = 0
	}
	tok := c.SubscribeMultiple(m, nil)
	wait(t, tok)
	res := tok.(*paho.SubscribeToken).Result()
	codes := make([]byte, len(filters))
	for i, f := range filters {
		codes[i] = res[f]
	}
	return codes
}

// nextMessage returns the next delivered message's topic and payload.
func nextMessage(t *testing.T, c *pahoClient) string {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m.Topic() + " " + string(m.Payload())
	case <-time.After(10 * time.Second):
		t.Fatal("no message delivered")
		return ""
	}
}

func TestAuthServerV3(t *testing.T) {
	addr := startServer(t, NewAuthHook(fixture(t), false))

	// CONNECT: mochi answers every refusal with 0x86, which is return
	// code 5 (not authorized) on 3.1.1.
	for _, c := range []struct{ name, user, pw string }{
		{"wrong password", "alice", "bob-pw"},
		{"unknown user", "mallory", "alice-pw"},
		{"anonymous on a hook that does not allow it", "", ""},
	} {
		if _, err := connectV3(t, addr, "refused", c.user, c.pw, nil); !errors.Is(err, pahopackets.ErrorRefusedNotAuthorised) {
			t.Errorf("%s: connect error = %v, want %v", c.name, err, pahopackets.ErrorRefusedNotAuthorised)
		}
	}
	_, err := connectV3(t, addr, "w1", "alice", "alice-pw", func(o *paho.ClientOptions) { o.SetWill("secret/w", "gone", 0, false) })
	if !errors.Is(err, pahopackets.ErrorRefusedNotAuthorised) {
		t.Errorf("will on a denied topic: connect error = %v, want refusal", err)
	}
	_, err = connectV3(t, addr, "w2", "alice", "alice-pw", func(o *paho.ClientOptions) { o.SetWill("sensors/alice/w", "gone", 0, false) })
	if err != nil {
		t.Errorf("will on an allowed topic: %v", err)
	}

	alice := mustConnectV3(t, addr, "alice1", "alice", "alice-pw")
	carol := mustConnectV3(t, addr, "carol1", "carol", "carol-pw")
	bob := mustConnectV3(t, addr, "dev1", "bob", "bob-pw")

	// SUBSCRIBE: a denied filter gets 0x80 on 3.1.1, next to granted ones.
	if got := subscribeV3(t, carol, "status/#", "secret/#", "#"); !bytes.Equal(got, []byte{0, 0x80, 0x80}) {
		t.Errorf("carol's SUBACK codes = %x, want 00 80 80", got)
	}
	if got := subscribeV3(t, alice, "#", "secret/x"); !bytes.Equal(got, []byte{0, 0x80}) {
		t.Errorf("alice's SUBACK codes = %x, want 00 80", got)
	}

	// A QoS 0 publish to a topic the publisher may not write is dropped:
	// carol may read status/, but bob may not publish there. Each sender's
	// packets are handled in order, so bob's allowed marker arriving first
	// means the denied one was not delivered.
	wait(t, bob.Publish("status/fake", 0, false, "denied"))
	wait(t, alice.Publish("sensors/alice/temp", 0, false, "marker"))
	if got := nextMessage(t, alice); got != "sensors/alice/temp marker" {
		t.Errorf("alice got %q first, want her own marker", got)
	}
	wait(t, carol.Publish("shared/x", 0, false, "from-carol"))
	if got := nextMessage(t, alice); got != "shared/x from-carol" {
		t.Errorf("alice got %q, want shared/x from-carol", got)
	}

	// %u: alice publishes under her own name only.
	wait(t, alice.Publish("sensors/bob/temp", 0, false, "not hers"))
	wait(t, alice.Publish("sensors/alice/config", 0, false, "denied first"))
	wait(t, alice.Publish("sensors/alice/humidity", 0, false, "hers"))
	if got := nextMessage(t, alice); got != "sensors/alice/humidity hers" {
		t.Errorf("alice got %q, want only her allowed publish", got)
	}

	// A denied QoS 1 publish disconnects a 3.1.1 client: the protocol has
	// no way to refuse one PUBLISH.
	bob.Publish("status/fake", 1, false, "denied qos1")
	select {
	case <-bob.lost:
	case <-time.After(10 * time.Second):
		t.Fatal("a denied QoS 1 publish did not disconnect the MQTT 3.1.1 client")
	}
	select {
	case m := <-alice.msgs:
		t.Errorf("alice got %s %s from a denied QoS 1 publish", m.Topic(), m.Payload())
	case <-time.After(100 * time.Millisecond):
	}
}

// Delivery-time checks: a subscription wider than the rules allows is
// granted, and only the topics the subscriber may read reach it.
func TestAuthServerDeliveryFiltered(t *testing.T) {
	h := testHash(t, "pw")
	a, err := parseAuth([]byte(`user reader `+h+`
user writer `+h+`
rules user reader
deny  subscribe secret/#
allow subscribe #
rules user writer
allow publish #
`), "x")
	if err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, NewAuthHook(a, false))
	reader := mustConnectV3(t, addr, "r", "reader", "pw")
	writer := mustConnectV3(t, addr, "w", "writer", "pw")
	if got := subscribeV3(t, reader, "#"); !bytes.Equal(got, []byte{0}) {
		t.Fatalf("reader's SUBACK for # = %x, want granted", got)
	}
	wait(t, writer.Publish("secret/plans", 0, false, "hidden"))
	wait(t, writer.Publish("news/today", 0, false, "visible"))
	if got := nextMessage(t, reader); got != "news/today visible" {
		t.Errorf("reader got %q first, want news/today visible", got)
	}

	// Retained messages are delivered through the same check.
	wait(t, writer.Publish("secret/retained", 1, true, "hidden"))
	wait(t, writer.Publish("news/retained", 1, true, "visible"))
	late := mustConnectV3(t, addr, "r2", "reader", "pw")
	subscribeV3(t, late, "#")
	if got := nextMessage(t, late); got != "news/retained visible" {
		t.Errorf("late reader got %q, want only the readable retained message", got)
	}
	select {
	case m := <-late.msgs:
		t.Errorf("late reader also got %s %s", m.Topic(), m.Payload())
	case <-time.After(200 * time.Millisecond):
	}
}

func TestAuthServerAnonymous(t *testing.T) {
	addr := startServer(t, NewAuthHook(fixture(t), true))
	anon := mustConnectV3(t, addr, "anon1", "", "")
	if got := subscribeV3(t, anon, "public/#", "status/#"); !bytes.Equal(got, []byte{0, 0x80}) {
		t.Errorf("anonymous SUBACK codes = %x, want 00 80 (the default list is not for anonymous clients)", got)
	}
	wait(t, anon.Publish("public/anon2", 0, false, "not its id"))
	wait(t, anon.Publish("public/anon1", 0, false, "its id"))
	if got := nextMessage(t, anon); got != "public/anon1 its id" {
		t.Errorf("anonymous client got %q, want only the %%c publish", got)
	}
	// Credentials still have to be right when anonymous access is on.
	if _, err := connectV3(t, addr, "x", "alice", "wrong", nil); !errors.Is(err, pahopackets.ErrorRefusedNotAuthorised) {
		t.Errorf("wrong password with anonymous allowed: %v, want refusal", err)
	}
}

// rawV5 is the raw client of the harness speaking MQTT 5, since paho's Go
// client speaks 3.1.1 only: enough to read the v5 reason codes.
type rawV5 struct{ *raw }

func dialV5(t *testing.T, addr string) *rawV5 {
	t.Helper()
	r := dialRaw(t, addr)
	r.v = 5
	return &rawV5{r}
}

func (c *rawV5) send(pk packets.Packet) { c.t.Helper(); c.write(pk) }

// recv returns the next packet, or one of type 0 if the server closed the
// connection.
func (c *rawV5) recv() packets.Packet {
	c.t.Helper()
	pk, err := c.read()
	if errors.Is(err, io.EOF) {
		return packets.Packet{ProtocolVersion: 5}
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return pk
}

func (c *rawV5) connect(clientID, user, pw string) byte {
	c.t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}}
	pk.Connect.ProtocolName = []byte("MQTT")
	pk.Connect.Clean = true
	pk.Connect.Keepalive = 30
	pk.Connect.ClientIdentifier = clientID
	if user != "" {
		pk.Connect.UsernameFlag, pk.Connect.Username = true, []byte(user)
	}
	if pw != "" {
		pk.Connect.PasswordFlag, pk.Connect.Password = true, []byte(pw)
	}
	c.send(pk)
	ack := c.recv()
	if ack.FixedHeader.Type != packets.Connack {
		c.t.Fatalf("got packet type %d, want CONNACK", ack.FixedHeader.Type)
	}
	return ack.ReasonCode
}

func (c *rawV5) publish(topic string, alias uint16, qos byte, id uint16, payload string) {
	c.t.Helper()
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
		TopicName:   topic,
		PacketID:    id,
		Payload:     []byte(payload),
	}
	if alias > 0 {
		pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = alias, true
	}
	c.send(pk)
}

func (c *rawV5) expect(typ byte) packets.Packet {
	c.t.Helper()
	pk := c.recv()
	if pk.FixedHeader.Type != typ {
		c.t.Fatalf("got packet type %d (%+v), want %d", pk.FixedHeader.Type, pk, typ)
	}
	return pk
}

func TestAuthServerV5(t *testing.T) {
	addr := startServer(t, NewAuthHook(fixture(t), false))

	for _, c := range []struct{ name, user, pw string }{
		{"wrong password", "bob", "alice-pw"},
		{"unknown user", "mallory", "bob-pw"},
		{"anonymous", "", ""},
	} {
		if code := dialV5(t, addr).connect("refused", c.user, c.pw); code != packets.ErrBadUsernameOrPassword.Code {
			t.Errorf("%s: CONNACK reason %#x, want %#x", c.name, code, packets.ErrBadUsernameOrPassword.Code)
		}
	}

	bob := dialV5(t, addr)
	if code := bob.connect("dev1", "bob", "bob-pw"); code != 0 {
		t.Fatalf("bob: CONNACK reason %#x", code)
	}
	bob.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe},
		PacketID:    1,
		Filters: packets.Subscriptions{
			{Filter: "devices/+/up", Qos: 1},
			{Filter: "devices/#", Qos: 1},
			{Filter: "$share/g/devices/+/up", Qos: 0},
		},
	})
	if got := bob.expect(packets.Suback).ReasonCodes; !bytes.Equal(got, []byte{1, 0x87, 0}) {
		t.Errorf("SUBACK reason codes = %x, want 01 87 00", got)
	}

	// A denied QoS 1 publish is answered with PUBACK 0x87 and the client
	// stays connected.
	bob.publish("devices/dev2/up", 0, 1, 10, "not mine")
	if ack := bob.expect(packets.Puback); ack.PacketID != 10 || ack.ReasonCode != packets.ErrNotAuthorized.Code {
		t.Errorf("PUBACK for a denied publish: id %d reason %#x, want id 10 reason 0x87", ack.PacketID, ack.ReasonCode)
	}

	// Topic aliases: the server checks a publish before resolving its
	// alias, so an empty topic is let through; that is safe only because
	// an alias is set by a publish that passed the check. First, that an
	// alias for an allowed topic works (else the next part proves nothing).
	bob.publish("devices/dev1/up", 1, 0, 0, "a1")
	bob.publish("", 1, 0, 0, "a2")
	for _, want := range []string{"a1", "a2"} {
		pk := bob.expect(packets.Publish)
		if pk.TopicName != "devices/dev1/up" || string(pk.Payload) != want {
			t.Errorf("got %s %s, want devices/dev1/up %s", pk.TopicName, pk.Payload, want)
		}
	}
	// Then an alias set by a denied publish, used alone: nothing may reach
	// bob's devices/+/up subscription before the marker.
	bob.publish("devices/dev2/up", 2, 0, 0, "denied, sets alias 2?")
	bob.publish("", 2, 0, 0, "through alias 2")
	bob.publish("devices/dev1/up", 0, 0, 0, "marker")
	if pk := bob.expect(packets.Publish); pk.TopicName != "devices/dev1/up" || string(pk.Payload) != "marker" {
		t.Errorf("got %s %q, want the marker: a denied topic leaked through an alias", pk.TopicName, pk.Payload)
	}
}

// FuzzLoadAuth: whatever the bytes, parsing returns an Auth or errors that
// name the file and a line, and never panics; a parsed Auth answers
// queries without panicking.
func FuzzLoadAuth(f *testing.F) {
	f.Add([]byte(fixtureText(f)))
	f.Add([]byte("rules default\nallow both a/%u/%c%%/+/#\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := parseAuth(data, "fuzz.conf")
		if err != nil {
			if a != nil {
				t.Fatal("Auth returned with an error")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.conf:") {
					t.Fatalf("error line %q does not name the file", line)
				}
			}
			return
		}
		users := []string{"", "x"}
		for u := range a.users {
			users = append(users, u)
			if len(users) > 6 {
				break
			}
		}
		for _, u := range users {
			for _, topic := range []string{"a/b", "#", "+", "a/+/c", "$SYS/x", "", "/", "$share/g/a/#", "x/y/z"} {
				for _, cid := range []string{"c", "a/b", ""} {
					a.Allow(u, cid, topic, AccessPublish)
					a.Allow(u, cid, topic, AccessSubscribe)
				}
			}
		}
	})
}
