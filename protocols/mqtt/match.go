package mqtt

import "strings"

// sharePrefix starts a shared subscription filter: $share/<name>/<filter>.
const sharePrefix = "$share/"

// splitShared returns the share name and the filter of a shared
// subscription filter, or ok false for an ordinary filter. mochi has
// already checked the form [MQTT-4.8.2-1] [MQTT-4.8.2-2].
func splitShared(filter string) (name, inner string, ok bool) {
	if len(filter) < len(sharePrefix) || !strings.EqualFold(filter[:len(sharePrefix)], sharePrefix) {
		return "", filter, false
	}
	rest := filter[len(sharePrefix):]
	i := strings.IndexByte(rest, '/')
	if i <= 0 {
		return "", filter, false
	}
	return rest[:i], rest[i+1:], true
}

// matchFilter reports whether topic matches an MQTT topic filter: '+'
// matches one level, a trailing '#' the parent level and everything below
// it [MQTT-4.7.1-2] [MQTT-4.7.1-3], and a filter starting with a wildcard
// does not match topics starting with '$' [MQTT-4.7.2-1]. It does not
// allocate.
func matchFilter(filter string, topic []byte) bool {
	if len(topic) > 0 && topic[0] == '$' && len(filter) > 0 && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	f, t := 0, 0
	for {
		// The filter level [f, fe) against the topic level [t, te).
		fe := strings.IndexByte(filter[f:], '/')
		if fe < 0 {
			fe = len(filter)
		} else {
			fe += f
		}
		level := filter[f:fe]
		if level == "#" {
			return true
		}
		te := t
		for te < len(topic) && topic[te] != '/' {
			te++
		}
		if level != "+" && level != string(topic[t:te]) {
			return false
		}
		lastF, lastT := fe == len(filter), te == len(topic)
		switch {
		case lastF && lastT:
			return true
		case lastT:
			// "a/#" matches "a": the filter's next level must be a final '#'.
			return filter[fe+1:] == "#"
		case lastF:
			return false
		}
		f, t = fe+1, te+1
	}
}
