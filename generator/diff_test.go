package generator

import (
	"bytes"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

// numbered returns n lines "line 1\n" ... "line n\n", with the lines named
// in edits (1-based) replaced by their value, or removed when it is "".
func numbered(n int, edits map[int]string) string {
	var sb strings.Builder
	for i := 1; i <= n; i++ {
		line, ok := edits[i]
		if !ok {
			line = "line " + strconv.Itoa(i)
		}
		if line != "" {
			sb.WriteString(line + "\n")
		}
	}
	return sb.String()
}

// The expected outputs below were checked against GNU `diff -u --label old
// --label new` on the same inputs.
var unifiedDiffTests = []struct {
	name string
	a, b string
	want string
}{
	{
		name: "equal",
		a:    numbered(20, nil),
		b:    numbered(20, nil),
		want: "",
	},
	{
		name: "both empty",
		want: "",
	},
	{
		name: "create",
		a:    "",
		b:    "package main\n\nfunc main() {}\n",
		want: `--- old
+++ new
@@ -0,0 +1,3 @@
+package main
+
+func main() {}
`,
	},
	{
		name: "create one empty line",
		a:    "",
		b:    "\n",
		want: "--- old\n+++ new\n@@ -0,0 +1 @@\n+\n",
	},
	{
		name: "delete",
		a:    "one\ntwo\n",
		b:    "",
		want: `--- old
+++ new
@@ -1,2 +0,0 @@
-one
-two
`,
	},
	{
		name: "single line changed",
		a:    "x\n",
		b:    "y\n",
		want: `--- old
+++ new
@@ -1 +1 @@
-x
+y
`,
	},
	{
		name: "one change in the middle of a long file",
		a:    numbered(20, nil),
		b:    numbered(20, map[int]string{10: "line ten"}),
		want: `--- old
+++ new
@@ -7,7 +7,7 @@
 line 7
 line 8
 line 9
-line 10
+line ten
 line 11
 line 12
 line 13
`,
	},
	{
		name: "changes at the first and last lines",
		a:    numbered(10, nil),
		b:    numbered(10, map[int]string{1: "first", 10: "last"}),
		want: `--- old
+++ new
@@ -1,4 +1,4 @@
-line 1
+first
 line 2
 line 3
 line 4
@@ -7,4 +7,4 @@
 line 7
 line 8
 line 9
-line 10
+last
`,
	},
	{
		// Seven unchanged lines between the changes: one more than two
		// contexts, so two hunks.
		name: "two distant changes",
		a:    numbered(30, nil),
		b:    numbered(30, map[int]string{5: "line five", 13: "line thirteen"}),
		want: `--- old
+++ new
@@ -2,7 +2,7 @@
 line 2
 line 3
 line 4
-line 5
+line five
 line 6
 line 7
 line 8
@@ -10,7 +10,7 @@
 line 10
 line 11
 line 12
-line 13
+line thirteen
 line 14
 line 15
 line 16
`,
	},
	{
		// Six unchanged lines between the changes: the contexts touch, so
		// one hunk.
		name: "two near changes",
		a:    numbered(30, nil),
		b:    numbered(30, map[int]string{5: "line five", 12: "line twelve"}),
		want: `--- old
+++ new
@@ -2,14 +2,14 @@
 line 2
 line 3
 line 4
-line 5
+line five
 line 6
 line 7
 line 8
 line 9
 line 10
 line 11
-line 12
+line twelve
 line 13
 line 14
 line 15
`,
	},
	{
		name: "insertion shifts the new side of later hunks",
		a:    numbered(20, nil),
		b:    numbered(20, map[int]string{4: "line 4\nnew A\nnew B", 15: ""}),
		want: `--- old
+++ new
@@ -2,6 +2,8 @@
 line 2
 line 3
 line 4
+new A
+new B
 line 5
 line 6
 line 7
@@ -12,7 +14,6 @@
 line 12
 line 13
 line 14
-line 15
 line 16
 line 17
 line 18
`,
	},
	{
		name: "repeated line removed",
		a:    "a\nb\nb\nc\n",
		b:    "a\nb\nc\n",
		want: `--- old
+++ new
@@ -1,4 +1,3 @@
 a
 b
-b
 c
`,
	},
	{
		name: "old side lacks the trailing newline",
		a:    "a\nb",
		b:    "a\nb\n",
		want: `--- old
+++ new
@@ -1,2 +1,2 @@
 a
-b
\ No newline at end of file
+b
`,
	},
	{
		name: "new side lacks the trailing newline",
		a:    "a\nb\n",
		b:    "a\nb",
		want: `--- old
+++ new
@@ -1,2 +1,2 @@
 a
-b
+b
\ No newline at end of file
`,
	},
	{
		name: "both sides lack the trailing newline",
		a:    "a\nb",
		b:    "a\nc",
		want: `--- old
+++ new
@@ -1,2 +1,2 @@
 a
-b
\ No newline at end of file
+c
\ No newline at end of file
`,
	},
	{
		name: "unchanged last line without newline is context",
		a:    "a\nb\nc",
		b:    "A\nb\nc",
		want: `--- old
+++ new
@@ -1,3 +1,3 @@
-a
+A
 b
 c
\ No newline at end of file
`,
	},
	{
		name: "delete a file without trailing newline",
		a:    "x",
		b:    "",
		want: `--- old
+++ new
@@ -1 +0,0 @@
-x
\ No newline at end of file
`,
	},
	{
		name: "create a file without trailing newline",
		a:    "",
		b:    "x",
		want: `--- old
+++ new
@@ -0,0 +1 @@
+x
\ No newline at end of file
`,
	},
}

func TestUnifiedDiff(t *testing.T) {
	for _, tt := range unifiedDiffTests {
		t.Run(tt.name, func(t *testing.T) {
			got := unifiedDiff("old", "new", []byte(tt.a), []byte(tt.b))
			if got != tt.want {
				t.Errorf("unifiedDiff:\n--- got\n%s--- want\n%s", got, tt.want)
			}
		})
	}
}

func TestUnifiedDiffHeaderNames(t *testing.T) {
	got := unifiedDiff("a/internal/web/routes.go", "b/internal/web/routes.go", []byte("x\n"), []byte("y\n"))
	want := "--- a/internal/web/routes.go\n+++ b/internal/web/routes.go\n@@ -1 +1 @@\n-x\n+y\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestUnifiedDiffRandom checks on random inputs that applying the diff to
// a gives b and that it changes no more lines than a longest common
// subsequence requires.
func TestUnifiedDiffRandom(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		a := randomLines(r, r.Intn(30), 1+r.Intn(8))
		b := randomLines(r, r.Intn(30), 1+r.Intn(8))
		if i%2 == 0 {
			b = mutateLines(r, a)
		}
		d := unifiedDiff("old", "new", []byte(a), []byte(b))
		if (a == b) != (d == "") {
			t.Fatalf("a %q, b %q: diff %q", a, b, d)
		}
		if d == "" {
			continue
		}
		got, changed, err := applyUnified(a, d)
		if err != nil {
			t.Fatalf("a %q, b %q: %v in\n%s", a, b, err, d)
		}
		if got != b {
			t.Fatalf("a %q, b %q: applying the diff gave %q\n%s", a, b, got, d)
		}
		al, bl := splitLines([]byte(a)), splitLines([]byte(b))
		if want := len(al) + len(bl) - 2*lcsLen(al, bl); changed != want {
			t.Fatalf("a %q, b %q: %d lines changed, the minimum is %d\n%s", a, b, changed, want, d)
		}
	}
}

// TestUnifiedDiffLarge runs a file of many lines and few changes, and two
// unrelated files, to keep the algorithm honest about its cost.
func TestUnifiedDiffLarge(t *testing.T) {
	a := numbered(50000, nil)
	b := numbered(50000, map[int]string{100: "changed", 40000: ""})
	d := unifiedDiff("old", "new", []byte(a), []byte(b))
	if n := strings.Count(d, "\n@@ "); n != 2 {
		t.Errorf("want 2 hunks, got %d", n)
	}
	if !strings.Contains(d, "@@ -39997,7 +39997,6 @@\n") {
		t.Errorf("second hunk header missing:\n%s", d)
	}

	r := rand.New(rand.NewSource(2))
	x, y := randomLines(r, 3000, 1000), randomLines(r, 3000, 1000)
	got, _, err := applyUnified(x, unifiedDiff("x", "y", []byte(x), []byte(y)))
	if err != nil || got != y {
		t.Errorf("unrelated files: applying the diff failed (%v)", err)
	}
}

func randomLines(r *rand.Rand, n, alphabet int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "l%d\n", r.Intn(alphabet))
	}
	s := sb.String()
	if s != "" && r.Intn(4) == 0 {
		s = strings.TrimSuffix(s, "\n")
	}
	return s
}

func mutateLines(r *rand.Rand, a string) string {
	var out []string
	for _, l := range splitLines([]byte(a)) {
		switch r.Intn(8) {
		case 0: // drop
		case 1:
			out = append(out, l, fmt.Sprintf("n%d\n", r.Intn(4)))
		case 2:
			out = append(out, fmt.Sprintf("x%d\n", r.Intn(4)))
		default:
			out = append(out, l)
		}
	}
	s := strings.Join(out, "")
	if r.Intn(5) == 0 {
		s = strings.TrimSuffix(s, "\n")
	}
	return s
}

// applyUnified applies a unified diff made by unifiedDiff to a, checking
// the headers, the hunk line numbers and counts, and the context as it
// goes, and returns the result and the number of lines added or removed.
func applyUnified(a, diff string) (string, int, error) {
	lines := strings.SplitAfter(diff, "\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[0], "--- ") || !strings.HasPrefix(lines[1], "+++ ") || lines[len(lines)-1] != "" {
		return "", 0, fmt.Errorf("bad header or ending")
	}
	// Fold each no-newline marker into the line before it.
	var body []string
	for _, l := range lines[2 : len(lines)-1] {
		if l == "\\ No newline at end of file\n" {
			if len(body) == 0 || body[len(body)-1][0] == '@' || !strings.HasSuffix(body[len(body)-1], "\n") {
				return "", 0, fmt.Errorf("misplaced no-newline marker")
			}
			body[len(body)-1] = strings.TrimSuffix(body[len(body)-1], "\n")
			continue
		}
		body = append(body, l)
	}

	src := splitLines([]byte(a))
	var out []string
	pos, changed := 0, 0 // pos: next line of src, 0-based
	for i := 0; i < len(body); {
		var as, ac, bs, bc int
		if err := parseHunkHeader(body[i], &as, &ac, &bs, &bc); err != nil {
			return "", 0, err
		}
		start := as - 1
		if ac == 0 {
			start = as // an empty range is numbered by the line before it
		}
		if start < pos || start > len(src) {
			return "", 0, fmt.Errorf("hunk %q out of order", body[i])
		}
		out = append(out, src[pos:start]...)
		pos = start
		if newStart := len(out) + 1; bc > 0 && bs != newStart || bc == 0 && bs != newStart-1 {
			return "", 0, fmt.Errorf("hunk %q: new side should start at %d", body[i], newStart)
		}
		i++
		na, nb := 0, 0
		for ; i < len(body) && body[i][0] != '@'; i++ {
			l := body[i]
			switch l[0] {
			case ' ', '-':
				if pos >= len(src) || src[pos] != l[1:] {
					return "", 0, fmt.Errorf("line %d of old does not match %q", pos+1, l)
				}
				pos++
				na++
				if l[0] == ' ' {
					out = append(out, l[1:])
					nb++
				} else {
					changed++
				}
			case '+':
				out = append(out, l[1:])
				nb++
				changed++
			default:
				return "", 0, fmt.Errorf("bad line %q", l)
			}
		}
		if na != ac || nb != bc {
			return "", 0, fmt.Errorf("hunk -%d,%d +%d,%d holds %d old and %d new lines", as, ac, bs, bc, na, nb)
		}
	}
	out = append(out, src[pos:]...)
	return strings.Join(out, ""), changed, nil
}

func parseHunkHeader(l string, as, ac, bs, bc *int) error {
	var old, new string
	if _, err := fmt.Sscanf(l, "@@ -%s +%s @@\n", &old, &new); err != nil {
		return fmt.Errorf("bad hunk header %q: %v", l, err)
	}
	parse := func(s string, start, count *int) error {
		n, c, ok := strings.Cut(s, ",")
		var err error
		if *start, err = strconv.Atoi(n); err != nil {
			return err
		}
		*count = 1
		if ok {
			if *count, err = strconv.Atoi(c); err != nil || *count == 1 {
				return fmt.Errorf("bad count in %q", l)
			}
		}
		return nil
	}
	if err := parse(old, as, ac); err != nil {
		return err
	}
	return parse(new, bs, bc)
}

// lcsLen is the length of a longest common subsequence, by the textbook
// quadratic method, as a reference for small inputs.
func lcsLen(a, b []string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for i := range a {
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(cur[j], prev[j+1])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// splitLines cuts s into lines, each keeping its "\n"; a last line without
// one is kept as it is. Comparing lines with their terminators makes "b"
// and "b\n" differ, which is what produces the no-newline markers.
func splitLines(s []byte) []string {
	var lines []string
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\n')
		if i < 0 {
			lines = append(lines, string(s))
			break
		}
		lines = append(lines, string(s[:i+1]))
		s = s[i+1:]
	}
	return lines
}
