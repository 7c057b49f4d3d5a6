package httpapi_test

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// apiDocPath is the API reference the server is held to.
const apiDocPath = "../../docs/api.md"

// apiDoc is what docs/api.md says about the HTTP API (its section "Keeping
// this page true" describes the format read here).
type apiDoc struct {
	routes    []docRoute        // served
	notServed []docRoute        // under "Not served yet"
	records   []docRecord       // "A … (schema `Name`) reads as: …"
	anyRoute  map[string]string // status → which routes may answer it without naming it
	problems  []string          // what could not be read
}

// docRoute is one row of a route table.
type docRoute struct {
	line         int
	method, path string
	query        []string
	permission   string
	body         []string // backticked names of the body column
	statuses     []string
}

func (r docRoute) key() string { return r.method + " " + r.path }

// docRecord is a record's list of fields.
type docRecord struct {
	line   int
	schema string
	fields []string
}

var (
	backticked  = regexp.MustCompile("`([^`]*)`")
	identifier  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	statusCode  = regexp.MustCompile(`\b[1-5][0-9][0-9]\b`)
	routeCell   = regexp.MustCompile(`^(GET|POST|PUT|PATCH|DELETE) (/[^?\s]*)(?:\?(\S*))?$`)
	recordIntro = regexp.MustCompile("\\(schema `(\\w+)`\\),? reads? as: ([^.]*)")
)

// The scopes of the table of statuses any route may answer.
var statusScopes = map[string]func(method, path string) bool{
	"every route":                       func(string, string) bool { return true },
	"every route but GET":               func(m, _ string) bool { return m != "GET" },
	"every route with a path parameter": func(_, p string) bool { return strings.Contains(p, "{") },
}

// readAPIDoc parses docs/api.md.
func readAPIDoc() (apiDoc, error) {
	b, err := os.ReadFile(apiDocPath)
	if err != nil {
		return apiDoc{}, err
	}
	return parseAPIDoc(string(b)), nil
}

// parseAPIDoc reads the route tables, the table of statuses any route may
// answer and the records' field lists of text; code blocks are skipped, and
// route rows under the level-2 heading "Not served yet" are kept apart.
func parseAPIDoc(text string) apiDoc {
	d := apiDoc{anyRoute: map[string]string{}}
	lines := strings.Split(text, "\n")
	section := "" // the current level-2 heading
	para, paraLine := []string{}, 0
	endPara := func() {
		if len(para) > 0 {
			d.readRecords(strings.Join(para, " "), paraLine)
		}
		para = para[:0]
	}
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		switch {
		case strings.HasPrefix(line, "```"):
			endPara()
			for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
			}
		case strings.HasPrefix(line, "#"):
			endPara()
			if h, ok := strings.CutPrefix(line, "## "); ok {
				section = h
			}
		case strings.HasPrefix(line, "|"):
			endPara()
			start := i
			var rows [][]string
			for ; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "|"); i++ {
				rows = append(rows, cells(lines[i]))
			}
			i--
			d.readTable(rows, start+1, section == "Not served yet")
		case line == "":
			endPara()
		default:
			if len(para) == 0 {
				paraLine = i + 1
			}
			para = append(para, line)
		}
	}
	endPara()
	return d
}

// cells splits a table row at its unescaped pipes.
func cells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimPrefix(strings.TrimSuffix(row, "|"), "|")
	var out []string
	var cur strings.Builder
	for i := 0; i < len(row); i++ {
		switch {
		case row[i] == '\\' && i+1 < len(row) && row[i+1] == '|':
			cur.WriteByte('|')
			i++
		case row[i] == '|':
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(row[i])
		}
	}
	return append(out, strings.TrimSpace(cur.String()))
}

// readTable reads a route table or the table of statuses any route may
// answer; other tables are prose.
func (d *apiDoc) readTable(rows [][]string, line int, notServed bool) {
	if len(rows) < 2 {
		return
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.ToLower(h)] = i
	}
	switch rows[0][0] {
	case "route":
		for _, name := range []string{"permission", "body", "answers"} {
			if _, ok := col[name]; !ok {
				d.problems = append(d.problems, fmt.Sprintf("docs/api.md:%d: a route table needs the columns route, permission, body, answers", line))
				return
			}
		}
		for n, row := range rows[2:] {
			r, err := readRoute(row, col, line+2+n)
			if err != nil {
				d.problems = append(d.problems, err.Error())
				continue
			}
			if notServed {
				d.notServed = append(d.notServed, r)
			} else {
				d.routes = append(d.routes, r)
			}
		}
	case "status":
		if _, ok := col["routes"]; !ok {
			return
		}
		for n, row := range rows[2:] {
			scope := row[col["routes"]]
			if statusScopes[scope] == nil || !statusCode.MatchString(row[0]) {
				d.problems = append(d.problems, fmt.Sprintf("docs/api.md:%d: cannot read status %q for %q (the routes column says one of: every route, every route but GET, every route with a path parameter)", line+2+n, row[0], scope))
				continue
			}
			d.anyRoute[row[0]] = scope
		}
	}
}

func readRoute(row []string, col map[string]int, line int) (docRoute, error) {
	if len(row) != len(col) {
		return docRoute{}, fmt.Errorf("docs/api.md:%d: the row has %d cells, its table %d columns", line, len(row), len(col))
	}
	m := backticked.FindStringSubmatch(row[col["route"]])
	var parts []string
	if m != nil {
		parts = routeCell.FindStringSubmatch(m[1])
	}
	if parts == nil {
		return docRoute{}, fmt.Errorf("docs/api.md:%d: cannot read the route %q (want `METHOD /path?query=`)", line, row[col["route"]])
	}
	r := docRoute{line: line, method: parts[1], path: parts[2]}
	for _, kv := range strings.Split(parts[3], "&") {
		if name, _, _ := strings.Cut(kv, "="); name != "" {
			r.query = append(r.query, name)
		}
	}
	if p := backticked.FindStringSubmatch(row[col["permission"]]); p != nil {
		r.permission = p[1]
	}
	for _, b := range backticked.FindAllStringSubmatch(row[col["body"]], -1) {
		if identifier.MatchString(b[1]) {
			r.body = append(r.body, b[1])
		}
	}
	answers := backticked.ReplaceAllString(row[col["answers"]], "")
	r.statuses = statusCode.FindAllString(answers, -1)
	return r, nil
}

// readRecords reads the records' field lists of one paragraph.
func (d *apiDoc) readRecords(para string, line int) {
	for _, m := range recordIntro.FindAllStringSubmatch(para, -1) {
		r := docRecord{line: line, schema: m[1]}
		for _, f := range backticked.FindAllStringSubmatch(m[2], -1) {
			r.fields = append(r.fields, f[1])
		}
		d.records = append(d.records, r)
	}
}

// spec is a decoded OpenAPI document.
type spec map[string]any

func (s spec) schema(name string) map[string]any {
	return dig(s, "components", "schemas", name)
}

// operations maps "METHOD /path" to its operation.
func (s spec) operations() map[string]map[string]any {
	ops := map[string]map[string]any{}
	for path, item := range dig(s, "paths") {
		for method, op := range item.(map[string]any) {
			if o, ok := op.(map[string]any); ok {
				ops[strings.ToUpper(method)+" "+path] = o
			}
		}
	}
	return ops
}

// resolve follows a $ref into the components.
func (s spec) resolve(v map[string]any) (map[string]any, string) {
	ref, _ := v["$ref"].(string)
	name, ok := strings.CutPrefix(ref, "#/components/schemas/")
	if !ok {
		return v, ""
	}
	return s.schema(name), name
}

// walk calls fn on the schema v and every schema inside it, resolving
// references, each named schema once.
func (s spec) walk(v map[string]any, seen map[string]bool, fn func(schema map[string]any, name string)) {
	v, name := s.resolve(v)
	if v == nil || name != "" && seen[name] {
		return
	}
	if name != "" {
		seen[name] = true
	}
	fn(v, name)
	for _, p := range asMap(v["properties"]) {
		s.walk(asMap(p), seen, fn)
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if sub := asMap(v[k]); sub != nil {
			s.walk(sub, seen, fn)
		}
	}
	for _, k := range []string{"oneOf", "anyOf", "allOf"} {
		for _, sub := range asSlice(v[k]) {
			s.walk(asMap(sub), seen, fn)
		}
	}
}

// requestSchema is the JSON body schema of op, or nil.
func requestSchema(op map[string]any) map[string]any {
	return dig(op, "requestBody", "content", "application/json", "schema")
}

// returns lists the schemas a 2xx answer of op holds, at any depth.
func (s spec) returns(op map[string]any) map[string]bool {
	names := map[string]bool{}
	for code, r := range dig(op, "responses") {
		if !strings.HasPrefix(code, "2") {
			continue
		}
		for _, c := range asMap(asMap(r)["content"]) {
			if sc := asMap(asMap(c)["schema"]); sc != nil {
				s.walk(sc, map[string]bool{}, func(_ map[string]any, name string) {
					if name != "" {
						names[name] = true
					}
				})
			}
		}
	}
	return names
}

// checkAPIDoc returns every way the OpenAPI document s and the reference d
// disagree, each as a sentence that says where.
func checkAPIDoc(d apiDoc, s spec) []string {
	problems := slices.Clone(d.problems)
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(d.routes) == 0 || len(d.records) == 0 || len(d.anyRoute) == 0 {
		add("docs/api.md: read %d routes, %d records and %d statuses any route may answer; the format is in its section \"Keeping this page true\"",
			len(d.routes), len(d.records), len(d.anyRoute))
	}
	ops := s.operations()
	documented := map[string]docRoute{}
	for _, r := range d.routes {
		if prev, ok := documented[r.key()]; ok {
			add("docs/api.md:%d: %s has a row already, at line %d", r.line, r.key(), prev.line)
		}
		documented[r.key()] = r
		op, ok := ops[r.key()]
		if !ok {
			add("docs/api.md:%d: %s is not in /openapi.json; if the server does not serve it yet, move its row under \"Not served yet\"", r.line, r.key())
			continue
		}
		checkRoute(s, r, op, d.anyRoute, add)
	}
	notServed := map[string]docRoute{}
	for _, r := range d.notServed {
		notServed[r.key()] = r
		if prev, ok := documented[r.key()]; ok {
			add("docs/api.md:%d: %s is under \"Not served yet\" and has a row at line %d too", r.line, r.key(), prev.line)
		}
	}
	for _, key := range sortedKeys(ops) {
		if _, ok := documented[key]; ok {
			continue
		}
		if r, ok := notServed[key]; ok {
			add("docs/api.md:%d: %s is under \"Not served yet\", but /openapi.json serves it: move its row into its section", r.line, key)
			continue
		}
		add("/openapi.json has %s, which docs/api.md does not document: add a row for it", key)
	}
	for _, rec := range d.records {
		checkRecord(s, rec, ops, add)
	}
	return problems
}

// checkRoute holds one row against its operation.
func checkRoute(s spec, r docRoute, op map[string]any, anyRoute map[string]string, add func(string, ...any)) {
	where := fmt.Sprintf("docs/api.md:%d", r.line)
	query := map[string]bool{}
	for _, p := range asSlice(op["parameters"]) {
		if p := asMap(p); p["in"] == "query" {
			query[p["name"].(string)] = true
		}
	}
	for _, q := range r.query {
		if !query[q] {
			add("%s: %s names query parameter `%s`, but the operation has no such parameter", where, r.key(), q)
		}
	}
	for _, q := range sortedKeys(query) {
		if !slices.Contains(r.query, q) && q != "limit" && q != "cursor" {
			add("/openapi.json: %s takes query parameter `%s`, which its row (%s) does not name", r.key(), q, where)
		}
	}
	if got, _ := op["x-permission"].(string); got != r.permission {
		add("%s: %s needs permission `%s`, but /openapi.json says x-permission `%s`", where, r.key(), r.permission, got)
	}

	req := requestSchema(op)
	if req == nil {
		for _, f := range r.body {
			add("%s: %s names body field `%s`, but the operation takes no body", where, r.key(), f)
		}
	} else {
		names := map[string]bool{}
		s.walk(req, map[string]bool{}, func(sc map[string]any, _ string) {
			for p := range asMap(sc["properties"]) {
				names[p] = true
			}
			for _, e := range asSlice(sc["enum"]) {
				names[fmt.Sprint(e)] = true
			}
		})
		for _, f := range r.body {
			if !names[f] {
				add("%s: %s names field `%s`, but its request schema has no such property", where, r.key(), f)
			}
		}
		top, name := s.resolve(req)
		for _, p := range sortedKeys(asMap(top["properties"])) {
			if !slices.Contains(r.body, p) {
				add("/openapi.json: the request schema of %s (%s) has property `%s`, which its row (%s) does not name", r.key(), name, p, where)
			}
		}
	}

	declared := dig(op, "responses")
	for _, st := range r.statuses {
		if _, ok := declared[st]; !ok {
			add("%s: %s names status %s, but /openapi.json does not declare it for that operation", where, r.key(), st)
		}
	}
	for _, st := range sortedKeys(declared) {
		if slices.Contains(r.statuses, st) {
			continue
		}
		if scope, ok := anyRoute[st]; ok && statusScopes[scope](r.method, r.path) {
			continue
		}
		add("/openapi.json: %s declares status %s, which its row (%s) does not name, and no row of the table of statuses any route may answer covers it", r.key(), st, where)
	}
}

// checkRecord holds a record's field list against its schema.
func checkRecord(s spec, rec docRecord, ops map[string]map[string]any, add func(string, ...any)) {
	where := fmt.Sprintf("docs/api.md:%d", rec.line)
	sc := s.schema(rec.schema)
	if sc == nil {
		add("%s: schema `%s` is not in /openapi.json", where, rec.schema)
		return
	}
	var by []string
	for _, key := range sortedKeys(ops) {
		if s.returns(ops[key])[rec.schema] {
			by = append(by, key)
		}
	}
	if len(by) == 0 {
		add("%s: no operation of /openapi.json returns `%s`", where, rec.schema)
		return
	}
	returned := fmt.Sprintf("%s (returned by %s)", rec.schema, strings.Join(by, ", "))
	props := asMap(sc["properties"])
	required := asSlice(sc["required"])
	for _, f := range rec.fields {
		if _, ok := props[f]; !ok {
			add("%s: a record of %s reads as `%s`, but the response schema has no such property", where, returned, f)
		} else if !slices.Contains(required, any(f)) {
			add("%s: `%s` of %s is not required, but a record carries every field (null when unknown)", where, f, returned)
		}
	}
	for _, p := range sortedKeys(props) {
		if !slices.Contains(rec.fields, p) {
			add("/openapi.json: %s has property `%s`, which docs/api.md does not list (%s)", returned, p, where)
		}
	}
}

func dig(v map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		v = asMap(v[k])
	}
	return v
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

func asSlice(v any) []any { s, _ := v.([]any); return s }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
