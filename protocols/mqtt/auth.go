// Authentication and topic ACLs for the MQTT front end.
//
// # The auth file
//
// The auth file is a line-oriented text file rather than JSON: an operator
// edits it by hand, wants comments next to the rules they explain, and wants
// an error to name the line to fix. Each line is blank, a comment (its first
// non-blank character is '#'; there are no trailing comments, because '#' is
// also the MQTT multi-level wildcard), or one of:
//
//	user NAME HASH                 define a user and its bcrypt password hash
//	rules user NAME                start the rule list of user NAME
//	rules anonymous                start the rule list of clients without a username
//	rules default                  start the rule list for every user after its own
//	allow ACCESS FILTER            append a rule to the current rule list
//	deny  ACCESS FILTER
//
// Fields are separated by blanks; keywords are lower case. ACCESS is publish,
// subscribe or both. A "user" or "rules" line ends the rule list before it,
// so an allow or deny line has to follow a "rules" line.
//
// NAME is the MQTT username, matched exactly. It cannot contain blanks, and
// cannot contain '/', '+' or '#' so that a %u substitution (below) always
// stays within one topic level. HASH is a bcrypt hash ($2a$, $2b$ or $2y$,
// cost 4 to 16; HashPassword makes one). Each user, and each rule list, is
// defined once; "rules user NAME" needs a "user NAME" line somewhere in the
// file.
//
// FILTER is an MQTT topic filter: '+' matches one level, '#' as the last level
// matches any number of levels (including none: "a/#" matches "a"), and as in
// MQTT, a wildcard in the first level does not match topics starting with '$'
// (grant "$SYS/#" explicitly). Inside a level, %u stands for the client's
// username and %c for its client identifier ("%%" is a literal '%'), so
// "devices/%c/#" gives each client a subtree of its own. %u cannot appear in
// the anonymous list. A client identifier containing '/', '+' or '#' never
// matches a %c rule: an allow rule then grants nothing and a deny rule
// refuses everything, because such an identifier could otherwise widen the
// rule.
//
// # Evaluation
//
// An authenticated user's own list is tried first, then the default list; a
// client without a username is tried against the anonymous list only, so
// that what is granted to every user is not also granted to anyone who can
// reach the port. The first rule whose access kind and filter cover the
// request decides; when none does, the request is denied. To allow by
// default instead, end a list with "allow both #".
//
// "publish" governs PUBLISH packets and will messages (a CONNECT whose will
// topic the client may not publish to is refused). "subscribe" governs
// SUBSCRIBE and also every message delivered: the server checks each
// delivered topic again, so after "deny subscribe secret/#" and "allow
// subscribe #", a subscription to "#" is granted but receives nothing under
// secret/. A subscription is granted by a rule only if the rule's filter
// covers every topic the subscription could match ("sensors/+" is not
// covered by "sensors/a"). A shared subscription "$share/GROUP/FILTER" is
// checked as FILTER.
//
// Example:
//
//	# operators
//	user admin $2a$10$NHTFKpP049nI0v.kcxYaY..kPZ.bREqKamJNVlxFkSIzc1PfAQBGG
//	rules user admin
//	allow both #
//	allow subscribe $SYS/#
//
//	user sensor1 $2a$10$9enqg0VtzSIpqvMKpV73u.VG1rYR/K16BRG.fSa4tBZSCjkhGDPli
//	rules user sensor1
//	deny  publish sensors/%u/config
//	allow both    sensors/%u/#
//
//	rules default
//	allow subscribe sensors/+/status
//
//	rules anonymous
//	allow subscribe public/#
//
// # Anonymous access
//
// A client without a username connects only if anonymous access is allowed,
// which AnonymousAllowed decides from the listen addresses: only when every
// listener is on a loopback address, unless the operator enables it
// explicitly. Without an auth file, ChooseAuthHook allows everything when
// anonymous access is allowed and refuses to start otherwise.
package mqtt

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"
)

// Access is what a client asks to do with a topic or filter.
type Access uint8

const (
	AccessPublish   Access = 1 << iota // send PUBLISH to a topic, or set it as the will topic
	AccessSubscribe                    // subscribe to a filter, or receive a message on a topic
)

// Bcrypt costs accepted in the auth file. Above the maximum, every CONNECT
// would spend seconds of CPU, which is a denial of service waiting to happen.
const (
	minHashCost = bcrypt.MinCost
	maxHashCost = 16
)

// maxErrors bounds how many problems one load reports, so a wrong file
// (say, a binary) gives a readable error rather than one per line.
const maxErrors = 20

// Auth is a loaded auth file. It is immutable and safe for concurrent use.
type Auth struct {
	users     map[string]*authUser
	anonymous []aclRule
	defaults  []aclRule

	maxCost   int
	dummyOnce sync.Once
	dummy     []byte
}

type authUser struct {
	hash  []byte
	rules []aclRule
	line  int
}

type aclRule struct {
	allow      bool
	access     Access // mask of AccessPublish and AccessSubscribe
	pattern    []patternLevel
	usesUser   bool
	usesClient bool
}

type levelKind uint8

const (
	levelLiteral levelKind = iota
	levelPlus
	levelHash
)

// A pattern level is a literal, or a template of literal pieces and %u/%c
// substitutions, matched against one level without building the substituted
// string.
type patternLevel struct {
	kind levelKind
	lit  string         // the whole level when it has no substitution
	tmpl []templatePart // nil when the level is a plain literal
}

type partKind uint8

const (
	partLiteral partKind = iota
	partUser
	partClient
)

type templatePart struct {
	kind partKind
	lit  string
}

// ConfigError is one problem in an auth file.
type ConfigError struct {
	File string
	Line int
	Msg  string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// LoadAuth reads and validates the auth file at path. The error of a file
// that does not parse lists each problem (up to 20) as FILE:LINE: MESSAGE.
func LoadAuth(path string) (*Auth, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mqtt auth: %w", err)
	}
	return parseAuth(data, path)
}

// HashPassword returns the bcrypt hash of pw for a "user" line, at bcrypt's
// default cost.
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("empty password")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// UserLine returns the auth file line "user NAME HASH" for a user with
// password pw, or an error if the file could not hold that username.
func UserLine(name, pw string) (string, error) {
	if name == "" || strings.IndexFunc(name, unicode.IsSpace) >= 0 || !utf8.ValidString(name) || strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("username %q: must be non-empty UTF-8 without blanks", name)
	}
	if msg := checkUsername(name); msg != "" {
		return "", fmt.Errorf("username %q: %s", name, msg)
	}
	h, err := HashPassword(pw)
	if err != nil {
		return "", err
	}
	return "user " + name + " " + h, nil
}

type authParser struct {
	name    string
	errs    []error
	a       *Auth
	cur     *[]aclRule // the rule list allow/deny lines append to
	curAnon bool
	// where each list was started, to name both lines of a duplicate and
	// the line of "rules user X" when X is never defined
	userRulesLine map[string]int
	anonLine      int
	defaultLine   int
}

func (p *authParser) errorf(line int, format string, args ...any) {
	if len(p.errs) < maxErrors {
		p.errs = append(p.errs, &ConfigError{File: p.name, Line: line, Msg: fmt.Sprintf(format, args...)})
	} else if len(p.errs) == maxErrors {
		p.errs = append(p.errs, fmt.Errorf("%s: more errors not shown", p.name))
	}
}

// parseAuth parses an auth file's contents; name is used in errors.
func parseAuth(data []byte, name string) (*Auth, error) {
	p := &authParser{
		name:          name,
		a:             &Auth{users: map[string]*authUser{}},
		userRulesLine: map[string]int{},
	}
	// Rule lists are kept aside until the end because "rules user X" may
	// come before "user X".
	userRules := map[string]*[]aclRule{}

	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var raw []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			raw, data = data, nil
		}
		raw = bytes.TrimSuffix(raw, []byte("\r"))
		if !utf8.Valid(raw) {
			p.errorf(lineNo, "not valid UTF-8")
			continue
		}
		if bytes.IndexByte(raw, 0) >= 0 {
			p.errorf(lineNo, "contains a NUL byte")
			continue
		}
		fields := strings.Fields(string(raw))
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch fields[0] {
		case "user":
			p.cur = nil
			p.parseUser(lineNo, fields)
		case "rules":
			p.cur = nil
			p.parseRulesHeader(lineNo, fields, userRules)
		case "allow", "deny":
			p.parseRule(lineNo, fields)
		default:
			p.errorf(lineNo, "unknown keyword %q (want user, rules, allow or deny)", fields[0])
		}
	}

	for u, rules := range userRules {
		au, ok := p.a.users[u]
		if !ok {
			p.errorf(p.userRulesLine[u], "rules for user %q, who has no \"user %s HASH\" line", u, u)
			continue
		}
		au.rules = *rules
	}
	if len(p.errs) > 0 {
		sortErrors(p.errs)
		return nil, errors.Join(p.errs...)
	}
	return p.a, nil
}

// sortErrors puts line errors in line order; the map walk above adds its
// errors in random order.
func sortErrors(errs []error) {
	line := func(e error) int {
		var ce *ConfigError
		if errors.As(e, &ce) {
			return ce.Line
		}
		return int(^uint(0) >> 1)
	}
	for i := 1; i < len(errs); i++ {
		for j := i; j > 0 && line(errs[j]) < line(errs[j-1]); j-- {
			errs[j], errs[j-1] = errs[j-1], errs[j]
		}
	}
}

func (p *authParser) parseUser(line int, f []string) {
	if len(f) != 3 {
		p.errorf(line, "want \"user NAME HASH\", got %d fields", len(f))
		return
	}
	name, hash := f[1], f[2]
	if msg := checkUsername(name); msg != "" {
		p.errorf(line, "user %q: %s", name, msg)
		return
	}
	if prev, ok := p.a.users[name]; ok {
		p.errorf(line, "user %q already defined on line %d", name, prev.line)
		return
	}
	cost, msg := checkHash(hash)
	if msg != "" {
		p.errorf(line, "user %q: %s", name, msg)
		return
	}
	p.a.maxCost = max(p.a.maxCost, cost)
	p.a.users[name] = &authUser{hash: []byte(hash), line: line}
}

func checkUsername(name string) string {
	if len(name) > 65535 {
		return "longer than an MQTT username can be"
	}
	if strings.ContainsAny(name, "/+#") {
		return "a username cannot contain '/', '+' or '#' (they would change the meaning of %u in a rule)"
	}
	return ""
}

// checkHash validates a bcrypt hash fully, since bcrypt's own parser only
// looks at the prefix and cost and would accept a truncated or mangled hash
// that no password can ever match.
func checkHash(h string) (cost int, msg string) {
	const b64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	bad := "not a bcrypt hash (want $2a$, $2b$ or $2y$, a two-digit cost, '$' and 53 characters; HashPassword makes one)"
	if len(h) != 60 || h[0] != '$' || h[1] != '2' || !strings.ContainsRune("aby", rune(h[2])) || h[3] != '$' || h[6] != '$' {
		return 0, bad
	}
	for i := 7; i < len(h); i++ {
		if !strings.ContainsRune(b64, rune(h[i])) {
			return 0, bad
		}
	}
	c, err := strconv.Atoi(h[4:6])
	if err != nil || h[4] < '0' || h[4] > '9' {
		return 0, bad
	}
	if c < minHashCost || c > maxHashCost {
		return 0, fmt.Sprintf("bcrypt cost %d is outside %d..%d", c, minHashCost, maxHashCost)
	}
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return 0, bad
	}
	return c, ""
}

func (p *authParser) parseRulesHeader(line int, f []string, userRules map[string]*[]aclRule) {
	if len(f) < 2 {
		p.errorf(line, "want \"rules user NAME\", \"rules anonymous\" or \"rules default\"")
		return
	}
	switch f[1] {
	case "user":
		if len(f) != 3 {
			p.errorf(line, "want \"rules user NAME\", got %d fields", len(f))
			return
		}
		name := f[2]
		if prev, ok := p.userRulesLine[name]; ok {
			p.errorf(line, "rules for user %q already started on line %d", name, prev)
			return
		}
		p.userRulesLine[name] = line
		rules := new([]aclRule)
		userRules[name] = rules
		p.cur, p.curAnon = rules, false
	case "anonymous", "default":
		if len(f) != 2 {
			p.errorf(line, "unexpected %q after \"rules %s\"", f[2], f[1])
			return
		}
		prev, list := &p.defaultLine, &p.a.defaults
		if f[1] == "anonymous" {
			prev, list = &p.anonLine, &p.a.anonymous
		}
		if *prev != 0 {
			p.errorf(line, "rules %s already started on line %d", f[1], *prev)
			return
		}
		*prev = line
		p.cur, p.curAnon = list, f[1] == "anonymous"
	default:
		p.errorf(line, "unknown rule list %q (want \"rules user NAME\", \"rules anonymous\" or \"rules default\")", f[1])
	}
}

func (p *authParser) parseRule(line int, f []string) {
	if len(f) != 3 {
		p.errorf(line, "want \"%s ACCESS FILTER\", got %d fields (comments must be on lines of their own)", f[0], len(f))
		return
	}
	r := aclRule{allow: f[0] == "allow"}
	switch f[1] {
	case "publish":
		r.access = AccessPublish
	case "subscribe":
		r.access = AccessSubscribe
	case "both":
		r.access = AccessPublish | AccessSubscribe
	default:
		p.errorf(line, "unknown access %q (want publish, subscribe or both)", f[1])
		return
	}
	pat, usesUser, usesClient, msg := parsePattern(f[2])
	if msg != "" {
		p.errorf(line, "filter %q: %s", f[2], msg)
		return
	}
	if p.cur == nil {
		p.errorf(line, "%s outside a rule list (start one with \"rules user NAME\", \"rules anonymous\" or \"rules default\")", f[0])
		return
	}
	if usesUser && p.curAnon {
		p.errorf(line, "filter %q: %%u in the anonymous rules, where there is no username", f[2])
		return
	}
	r.pattern, r.usesUser, r.usesClient = pat, usesUser, usesClient
	*p.cur = append(*p.cur, r)
}

func parsePattern(s string) (levels []patternLevel, usesUser, usesClient bool, msg string) {
	if s == "" {
		return nil, false, false, "empty"
	}
	if len(s) > 65535 {
		return nil, false, false, "longer than an MQTT topic filter can be"
	}
	parts := strings.Split(s, "/")
	if strings.EqualFold(parts[0], "$share") {
		return nil, false, false, "rules match the filter inside $share/GROUP/, so write the filter alone"
	}
	for i, part := range parts {
		switch {
		case part == "#":
			if i != len(parts)-1 {
				return nil, false, false, "'#' must be the last level"
			}
			levels = append(levels, patternLevel{kind: levelHash})
			continue
		case part == "+":
			levels = append(levels, patternLevel{kind: levelPlus})
			continue
		case strings.ContainsAny(part, "+#"):
			return nil, false, false, "'+' and '#' must take a whole level"
		}
		lv := patternLevel{kind: levelLiteral}
		if !strings.Contains(part, "%") {
			lv.lit = part
			levels = append(levels, lv)
			continue
		}
		var lit strings.Builder
		flush := func() {
			if lit.Len() > 0 {
				lv.tmpl = append(lv.tmpl, templatePart{kind: partLiteral, lit: lit.String()})
				lit.Reset()
			}
		}
		for j := 0; j < len(part); j++ {
			if part[j] != '%' {
				lit.WriteByte(part[j])
				continue
			}
			if j+1 == len(part) {
				return nil, false, false, "'%' at the end of a level (write %% for a literal '%')"
			}
			j++
			switch part[j] {
			case '%':
				lit.WriteByte('%')
			case 'u':
				flush()
				lv.tmpl = append(lv.tmpl, templatePart{kind: partUser})
				usesUser = true
			case 'c':
				flush()
				lv.tmpl = append(lv.tmpl, templatePart{kind: partClient})
				usesClient = true
			default:
				r, _ := utf8.DecodeRuneInString(part[j:])
				return nil, false, false, fmt.Sprintf("unknown substitution %%%c (want %%u, %%c or %%%%)", r)
			}
		}
		flush()
		if len(lv.tmpl) == 1 && lv.tmpl[0].kind == partLiteral {
			lv.lit, lv.tmpl = lv.tmpl[0].lit, nil
		}
		levels = append(levels, lv)
	}
	return levels, usesUser, usesClient, ""
}

// substitutable says whether a username or client identifier can stand in
// for %u or %c: it must fill exactly one non-wildcard level.
func substitutable(s string) bool {
	return s != "" && !strings.ContainsAny(s, "/+#")
}

func (l *patternLevel) matchLiteral(s, user, client string) bool {
	if l.tmpl == nil {
		return s == l.lit
	}
	for _, p := range l.tmpl {
		want := p.lit
		switch p.kind {
		case partUser:
			want = user
		case partClient:
			want = client
		}
		if !strings.HasPrefix(s, want) {
			return false
		}
		s = s[len(want):]
	}
	return s == ""
}

// covers reports whether every topic that f matches is matched by the rule's
// pattern. f is a topic name or a subscription filter; for a topic name this
// is plain MQTT topic matching.
func (r *aclRule) covers(f, user, client string) bool {
	dollar := strings.HasPrefix(f, "$")
	rest, more := f, true
	for i := range r.pattern {
		pl := &r.pattern[i]
		if pl.kind == levelHash {
			return i > 0 || !dollar
		}
		if !more {
			return false
		}
		var fl string
		fl, rest, more = strings.Cut(rest, "/")
		if fl == "#" {
			return false
		}
		if pl.kind == levelPlus {
			if i == 0 && dollar {
				return false
			}
			continue
		}
		if fl == "+" || !pl.matchLiteral(fl, user, client) {
			return false
		}
	}
	return !more
}

// eval applies a rule list; matched is false when no rule decided.
func eval(rules []aclRule, f, user, client string, acc Access) (allowed, matched bool) {
	for i := range rules {
		r := &rules[i]
		if r.access&acc == 0 {
			continue
		}
		if (r.usesUser && !substitutable(user)) || (r.usesClient && !substitutable(client)) {
			if r.allow {
				continue
			}
			return false, true
		}
		if r.covers(f, user, client) {
			return r.allow, true
		}
	}
	return false, false
}

// Allow reports whether the client may publish to or subscribe to filter,
// with access AccessPublish or AccessSubscribe. username "" is an anonymous
// client. filter may be a shared subscription ($share/GROUP/FILTER), which
// is checked as FILTER.
func (a *Auth) Allow(username, clientID, filter string, access Access) bool {
	if access != AccessPublish && access != AccessSubscribe {
		return false
	}
	f := unshare(filter)
	if username == "" {
		ok, _ := eval(a.anonymous, f, "", clientID, access)
		return ok
	}
	u, ok := a.users[username]
	if !ok {
		return false
	}
	if ok, matched := eval(u.rules, f, username, clientID, access); matched {
		return ok
	}
	ok, _ = eval(a.defaults, f, username, clientID, access)
	return ok
}

// unshare strips "$share/GROUP/" (any case, as the server matches it).
func unshare(f string) string {
	first, rest, ok := strings.Cut(f, "/")
	if !ok || !strings.EqualFold(first, "$share") {
		return f
	}
	if _, inner, ok := strings.Cut(rest, "/"); ok {
		return inner
	}
	return f
}

// CheckPassword reports whether password is username's. An unknown username
// costs the same bcrypt comparison as a known one, so response time does not
// tell which usernames exist.
func (a *Auth) CheckPassword(username string, password []byte) bool {
	u, ok := a.users[username]
	if !ok {
		_ = bcrypt.CompareHashAndPassword(a.dummyHash(), password)
		return false
	}
	// bcrypt only reads 72 bytes; a longer password would otherwise be
	// accepted on its first 72 alone.
	if len(password) > 72 {
		_ = bcrypt.CompareHashAndPassword(u.hash, password)
		return false
	}
	return bcrypt.CompareHashAndPassword(u.hash, password) == nil
}

// dummyHash is made on first use, not at load, so that loading (and fuzzing
// the parser) stays cheap. Its cost is the highest in the file, so that an
// unknown user is never the fast case.
func (a *Auth) dummyHash() []byte {
	a.dummyOnce.Do(func() {
		cost := a.maxCost
		if cost == 0 {
			cost = bcrypt.DefaultCost
		}
		pw := make([]byte, 32)
		_, _ = rand.Read(pw)
		// It cannot fail: the password is short and the cost was checked
		// at load. Were it to, a nil hash still matches no password.
		a.dummy, _ = bcrypt.GenerateFromPassword(pw, cost)
	})
	return a.dummy
}

// AnonymousAllowed says whether clients without a username may connect:
// when explicit is set, or when every listen address ("host:port") is on
// loopback (127.0.0.0/8, ::1 or "localhost"). An empty host (":1883") means
// every interface and so is not loopback, and neither is any other host
// name, since it can resolve anywhere. An empty list allows nothing unless
// explicit. An address that does not parse is an error.
func AnonymousAllowed(listenAddrs []string, explicit bool) (bool, error) {
	all := len(listenAddrs) > 0
	for _, addr := range listenAddrs {
		loop, err := isLoopbackAddr(addr)
		if err != nil {
			return false, err
		}
		all = all && loop
	}
	return explicit || all, nil
}

func isLoopbackAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("mqtt listen address %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false, nil
	}
	return ip.Unmap().IsLoopback(), nil
}

// AuthHook is the server's authentication and ACL hook. Add it as the only
// hook that provides OnConnectAuthenticate and OnACLCheck: the server lets a
// request through when any hook allows it, so a second, more permissive hook
// would override every denial here.
type AuthHook struct {
	mochi.HookBase
	auth           *Auth
	allowAnonymous bool
}

// NewAuthHook returns the hook for a; allowAnonymous is AnonymousAllowed's
// answer. With a nil a there is no file to check against: every client is
// allowed everything if allowAnonymous, and refused otherwise.
func NewAuthHook(a *Auth, allowAnonymous bool) *AuthHook {
	return &AuthHook{auth: a, allowAnonymous: allowAnonymous}
}

// ChooseAuthHook is the server's whole auth decision: the hook for a (which
// may be nil when no auth file is configured), given the listen addresses
// and whether the operator enabled anonymous access explicitly. Without a
// file on a non-loopback listener and without the explicit setting it
// returns an error: the server must not start open to the network.
func ChooseAuthHook(a *Auth, listenAddrs []string, explicitAnonymous bool) (*AuthHook, error) {
	anon, err := AnonymousAllowed(listenAddrs, explicitAnonymous)
	if err != nil {
		return nil, err
	}
	if a == nil && !anon {
		return nil, fmt.Errorf("mqtt: listening on %s, not only on loopback, with no auth file: configure an auth file or enable anonymous access explicitly",
			strings.Join(listenAddrs, ", "))
	}
	return NewAuthHook(a, anon), nil
}

// ID returns the ID of the hook.
func (h *AuthHook) ID() string {
	if h.auth == nil {
		return "gannet-allow-all"
	}
	return "gannet-auth"
}

// Provides indicates which hook methods this hook provides.
func (h *AuthHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

// OnConnectAuthenticate checks a CONNECT's credentials and will topic. The
// server answers a refusal with CONNACK 0x86 (bad username or password; 5,
// not authorized, on MQTT 3.1.1).
func (h *AuthHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	var ok bool
	switch {
	case h.auth == nil:
		ok = h.allowAnonymous
	case user == "":
		// A password without a username is not anonymous: it is a client
		// that thinks it is logging in, and should hear that it is not.
		ok = h.allowAnonymous && len(pk.Connect.Password) == 0
	default:
		ok = h.auth.CheckPassword(user, pk.Connect.Password)
	}
	if !ok {
		h.log("mqtt client refused: bad credentials", cl, user)
		return false
	}
	// The server publishes a will without an ACL check, so the will topic
	// is checked here, while the client can still be told.
	if pk.Connect.WillFlag {
		wt := pk.Connect.WillTopic
		if strings.ContainsAny(wt, "+#") || !h.allow(user, cl.ID, wt, AccessPublish) {
			h.log("mqtt client refused: will topic not allowed", cl, user, "will_topic", wt)
			return false
		}
	}
	return true
}

// OnACLCheck answers the server's publish (write) and subscribe or delivery
// (read) checks. Denied: a QoS 0 publish is dropped silently, a QoS 1 or 2
// publish gets PUBACK/PUBREC 0x87 on MQTT 5 and disconnects an MQTT 3.1.1
// client, a subscription gets SUBACK 0x87 (0x80 on 3.1.1), and a delivery is
// skipped.
func (h *AuthHook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	access := AccessSubscribe
	if write {
		access = AccessPublish
		// An MQTT 5 publish may name its topic by alias alone; the server
		// checks before resolving it, with an empty topic. The alias can
		// only have been set by an earlier publish that passed this check.
		if topic == "" {
			return true
		}
	}
	if cl.Net.Inline {
		return true // the broker's own client
	}
	user := string(cl.Properties.Username)
	if h.allow(user, cl.ID, topic, access) {
		return true
	}
	if h.Log != nil {
		h.Log.Debug("mqtt acl denied", "client", cl.ID, "username", user, "topic", topic, "write", write)
	}
	return false
}

func (h *AuthHook) allow(user, clientID, topic string, access Access) bool {
	if h.auth == nil {
		return h.allowAnonymous
	}
	return h.auth.Allow(user, clientID, topic, access)
}

func (h *AuthHook) log(msg string, cl *mochi.Client, user string, kv ...any) {
	if h.Log == nil {
		return
	}
	h.Log.Info(msg, append([]any{"client", cl.ID, "username", user, "remote", cl.Net.Remote}, kv...)...)
}
