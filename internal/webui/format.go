package webui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mlopsdev/mlops"
)

// funcs are the template helpers. Times are always shown in UTC with their
// age relative to the server's clock.
func (s *server) funcs() template.FuncMap {
	return template.FuncMap{
		"when":   s.when,
		"ago":    func(t time.Time) string { return age(s.now().UTC(), t) },
		"f3":     f3,
		"ms":     ms,
		"num":    num,
		"pct":    pct,
		"pretty": pretty,
		"pairs":  pairs,
		"deref":  deref,
		"join":   strings.Join,
		"has":    has,
		// pager links a list's first and next pages; the next link reads
		// "Older ›" unless named (a list oldest first says "Newer ›").
		"pager": func(first, next string, paged bool, nextLabel ...string) map[string]any {
			label := "Older ›"
			if len(nextLabel) > 0 {
				label = nextLabel[0]
			}
			return map[string]any{"First": first, "Next": next, "Paged": paged, "NextLabel": label}
		},
		// rolesWith names the roles that have a permission ("reviewer or admin").
		"rolesWith": func(perm string) string {
			var names []string
			for _, r := range mlops.RolesWith(mlops.Permission(perm)) {
				names = append(names, string(r))
			}
			if n := len(names); n > 1 {
				return strings.Join(names[:n-1], ", ") + " or " + names[n-1]
			}
			return strings.Join(names, "")
		},
		"hashPrefix": hashPrefix,
		"isActive":   func(st mlops.AlertStatus) bool { return st == mlops.AlertActive },
		"isAck":      func(st mlops.AlertStatus) bool { return st == mlops.AlertAcknowledged },
	}
}

// when renders a time as <time> in UTC followed by its age; nil or zero
// is a dash.
func (s *server) when(v any) template.HTML {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x != nil {
			t = *x
		}
	}
	if t.IsZero() {
		return `<span class="muted">—</span>`
	}
	t = t.UTC()
	return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s">%s</time> <span class="age">%s</span>`,
		t.Format(time.RFC3339), t.Format(time.RFC3339Nano), t.Format("2006-01-02 15:04:05 UTC"),
		template.HTMLEscapeString(age(s.now().UTC(), t))))
}

// age says how long ago t was, coarsely ("3 min ago", "in 2 h").
func age(now, t time.Time) string {
	d := now.Sub(t)
	suffix := "ago"
	if d < 0 {
		d, suffix = -d, "from now"
	}
	var n int64
	var unit string
	switch {
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		n, unit = int64(d/time.Second), "s"
	case d < time.Hour:
		n, unit = int64(d/time.Minute), "min"
	case d < 48*time.Hour:
		n, unit = int64(d/time.Hour), "h"
	default:
		n, unit = int64(d/(24*time.Hour)), "days"
	}
	return fmt.Sprintf("%d %s %s", n, unit, suffix)
}

// countdown says how long until t, to the minute: "expires in 2 h 13 min",
// "expires in 3 days 4 h"; "expired" once t has passed.
func countdown(now, t time.Time) string {
	d := t.Sub(now)
	if d <= 0 {
		return "expired"
	}
	days, hours, mins := int64(d/(24*time.Hour)), int64(d%(24*time.Hour)/time.Hour), int64(d%time.Hour/time.Minute)
	var parts []string
	switch {
	case d < time.Minute:
		return "expires in less than a minute"
	case d >= 48*time.Hour:
		parts = append(parts, fmt.Sprintf("%d days", days))
		if hours > 0 {
			parts = append(parts, fmt.Sprintf("%d h", hours))
		}
	default:
		if h := days*24 + hours; h > 0 {
			parts = append(parts, fmt.Sprintf("%d h", h))
		}
		if mins > 0 {
			parts = append(parts, fmt.Sprintf("%d min", mins))
		}
	}
	return "expires in " + strings.Join(parts, " ")
}

// hashPrefix is the first 12 characters of a hash.
func hashPrefix(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func floatOf(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case *float64:
		if x == nil {
			return 0, false
		}
		return *x, true
	}
	return 0, false
}

// f3 formats a metric with three decimals; nil is a dash.
func f3(v any) string {
	f, ok := floatOf(v)
	if !ok {
		return "—"
	}
	return strconv.FormatFloat(f, 'f', 3, 64)
}

// ms formats a latency in milliseconds.
func ms(v any) string {
	f, ok := floatOf(v)
	if !ok {
		return "—"
	}
	if f >= 100 {
		return strconv.FormatFloat(f, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " ms"
}

// num formats an integer with thousands separators.
func num(v any) string {
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int64:
		n = x
	case *int64:
		if x == nil {
			return "—"
		}
		n = *x
	default:
		return fmt.Sprint(v)
	}
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// pct is part/total as a percentage, or a dash when total is 0.
func pct(part, total int64) string {
	if total == 0 {
		return "—"
	}
	return strconv.FormatFloat(100*float64(part)/float64(total), 'f', 1, 64) + " %"
}

// pretty indents a JSON document; empty is a dash.
func pretty(raw mlops.JSON) string {
	if len(raw) == 0 {
		return "—"
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

type kv struct{ Key, Value string }

// pairs lists the top-level fields of a JSON object, sorted by key, with
// each value as compact JSON (strings unquoted).
func pairs(raw mlops.JSON) []kv {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	out := make([]kv, 0, len(m))
	for k, v := range m {
		var str string
		if json.Unmarshal(v, &str) == nil {
			out = append(out, kv{k, str})
			continue
		}
		var b bytes.Buffer
		if json.Compact(&b, v) != nil {
			b.Reset()
			b.Write(v)
		}
		out = append(out, kv{k, b.String()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func deref(v any) string {
	switch x := v.(type) {
	case *string:
		if x == nil {
			return ""
		}
		return *x
	case *int64:
		if x == nil {
			return ""
		}
		return strconv.FormatInt(*x, 10)
	}
	return fmt.Sprint(v)
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// round keeps SVG coordinates short.
func round(f float64) float64 { return math.Round(f*10) / 10 }
