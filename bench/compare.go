package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Figure is one numeric figure of two reports and their ratio B/A.
type Figure struct {
	Name string  // dotted path in the JSON: "latency_us.p99"
	A, B float64 // NaN when the report lacks it
	// Ratio is B/A; NaN when either is missing or A is zero (then B
	// equal to A, both zero, has Ratio 1).
	Ratio float64
}

// skipped are the arrays that are not figures: the per-second series and
// the percentile curve change length from run to run.
var skipped = map[string]bool{"series": true, "latency_curve": true, "notes": true}

// Compare reads two JSON reports and returns every numeric figure of
// either, in the order they appear (A's first, then those only B has),
// with B/A. Booleans count as 0 and 1; strings and arrays are skipped.
func Compare(a, b []byte) ([]Figure, error) {
	fa, order, err := flatten(a)
	if err != nil {
		return nil, fmt.Errorf("first report: %w", err)
	}
	fb, orderB, err := flatten(b)
	if err != nil {
		return nil, fmt.Errorf("second report: %w", err)
	}
	for _, k := range orderB {
		if _, ok := fa[k]; !ok {
			order = append(order, k)
		}
	}
	out := make([]Figure, 0, len(order))
	for _, k := range order {
		f := Figure{Name: k, A: math.NaN(), B: math.NaN(), Ratio: math.NaN()}
		va, okA := fa[k]
		vb, okB := fb[k]
		if okA {
			f.A = va
		}
		if okB {
			f.B = vb
		}
		switch {
		case !okA || !okB:
		case va == 0 && vb == 0:
			f.Ratio = 1
		case va != 0:
			f.Ratio = vb / va
		}
		out = append(out, f)
	}
	return out, nil
}

// flatten walks a JSON document and returns its numbers by dotted path, in
// document order.
func flatten(doc []byte) (map[string]float64, []string, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	vals := map[string]float64{}
	var order []string
	var walk func(path string) error
	walk = func(path string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				for dec.More() {
					kt, err := dec.Token()
					if err != nil {
						return err
					}
					key, _ := kt.(string)
					child := key
					if path != "" {
						child = path + "." + key
					}
					if skipped[child] {
						if err := skip(dec); err != nil {
							return err
						}
						continue
					}
					if err := walk(child); err != nil {
						return err
					}
				}
				_, err := dec.Token() // '}'
				return err
			case '[':
				for dec.More() {
					if err := skip(dec); err != nil {
						return err
					}
				}
				_, err := dec.Token() // ']'
				return err
			}
		case json.Number:
			f, err := strconv.ParseFloat(string(t), 64)
			if err != nil {
				return err
			}
			add(vals, &order, path, f)
		case bool:
			f := 0.0
			if t {
				f = 1
			}
			add(vals, &order, path, f)
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, errors.New("trailing data after the report")
	}
	return vals, order, nil
}

func add(vals map[string]float64, order *[]string, path string, f float64) {
	if _, ok := vals[path]; !ok {
		*order = append(*order, path)
	}
	vals[path] = f
}

// skip consumes one value, however nested.
func skip(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// WriteComparison prints the figures as an aligned table: name, A, B and
// B/A.
func WriteComparison(w io.Writer, figs []Figure, nameA, nameB string) error {
	width := len("figure")
	for _, f := range figs {
		width = max(width, len(f.Name))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s  %14s  %14s  %9s\n", width, "figure", clip(nameA, 14), clip(nameB, 14), "B/A")
	for _, f := range figs {
		fmt.Fprintf(&b, "%-*s  %14s  %14s  %9s\n", width, f.Name, num(f.A), num(f.B), ratio(f.Ratio))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n+1:]
}

func num(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	return strconv.FormatFloat(f, 'g', 10, 64)
}

func ratio(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "-"
	}
	return strconv.FormatFloat(f, 'f', 3, 64)
}
