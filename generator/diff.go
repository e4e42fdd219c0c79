package generator

import (
	"bytes"
	"fmt"
	"strings"
)

// diffContext is the number of unchanged lines shown around each change,
// as with `diff -u` and git.
const diffContext = 3

// unifiedDiff returns the changes that turn a into b as a unified diff
// (the format of `diff -u` and `git diff`): a "--- oldName" and a
// "+++ newName" header followed by hunks with three lines of context.
// Hunks closer than twice the context are merged into one, an empty side
// is numbered "0,0", and a last line without a newline is followed by a
// "\ No newline at end of file" marker. It returns "" when a and b are
// equal.
//
// Lines are matched with Myers' O(ND) algorithm in its linear-space form,
// so memory stays proportional to the size of the inputs.
func unifiedDiff(oldName, newName string, a, b []byte) string {
	if bytes.Equal(a, b) {
		return ""
	}
	al, bl := splitLines(a), splitLines(b)
	ops := diffLines(al, bl)

	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", oldName, newName)
	for _, h := range groupHunks(ops, diffContext) {
		fmt.Fprintf(&sb, "@@ -%s +%s @@\n", hunkRange(h.aStart, h.aCount), hunkRange(h.bStart, h.bCount))
		for _, op := range ops[h.first:h.last] {
			var prefix byte
			var line string
			switch op.kind {
			case opEqual:
				prefix, line = ' ', al[op.a]
			case opDelete:
				prefix, line = '-', al[op.a]
			case opInsert:
				prefix, line = '+', bl[op.b]
			}
			sb.WriteByte(prefix)
			sb.WriteString(line)
			if !strings.HasSuffix(line, "\n") {
				sb.WriteString("\n\\ No newline at end of file\n")
			}
		}
	}
	return sb.String()
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

// hunkRange formats one side of a hunk header. start is the 1-based first
// line; an empty range is numbered by the line before it, as diff does.
func hunkRange(start, count int) string {
	switch count {
	case 0:
		return fmt.Sprintf("%d,0", start-1)
	case 1:
		return fmt.Sprintf("%d", start)
	default:
		return fmt.Sprintf("%d,%d", start, count)
	}
}

type opKind uint8

const (
	opEqual opKind = iota
	opDelete
	opInsert
)

// diffOp is one line of the edit script: a line of a kept (a and b set),
// deleted (a set) or a line of b inserted (b set). Indexes are 0-based.
type diffOp struct {
	kind opKind
	a, b int
}

// diffLines returns an edit script turning the lines al into bl with the
// fewest deletions and insertions. Within a run of changes, deletions come
// before insertions.
func diffLines(al, bl []string) []diffOp {
	// Number the distinct lines so the inner loops compare ints.
	ids := make(map[string]int, len(al)+len(bl))
	intern := func(lines []string) []int {
		out := make([]int, len(lines))
		for i, l := range lines {
			id, ok := ids[l]
			if !ok {
				id = len(ids)
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	m := &myers{a: intern(al), b: intern(bl)}
	m.delA = make([]bool, len(al))
	m.insB = make([]bool, len(bl))
	n := len(al) + len(bl)
	// middleSnake uses 2*ceil(N/2)+3 <= n+4 entries of each for a
	// subproblem of N lines, so both are allocated once, at that size.
	m.vf = make([]int, n+4)
	m.vb = make([]int, n+4)
	m.compare(0, len(al), 0, len(bl))
	slideChanges(m.a, m.delA, m.insB)
	slideChanges(m.b, m.insB, m.delA)

	ops := make([]diffOp, 0, n)
	i, j := 0, 0
	for i < len(al) || j < len(bl) {
		switch {
		case i < len(al) && m.delA[i]:
			ops = append(ops, diffOp{kind: opDelete, a: i, b: j})
			i++
		case j < len(bl) && m.insB[j]:
			ops = append(ops, diffOp{kind: opInsert, a: i, b: j})
			j++
		default:
			ops = append(ops, diffOp{kind: opEqual, a: i, b: j})
			i++
			j++
		}
	}
	return ops
}

// myers marks the lines of a deleted and of b inserted by a shortest edit
// script, found by divide and conquer on the middle snake (Myers 1986,
// "An O(ND) Difference Algorithm and Its Variations", section 4b).
type myers struct {
	a, b       []int
	delA, insB []bool
	vf, vb     []int // furthest x per diagonal, forward and backward
}

// compare marks the differences between a[aLo:aHi] and b[bLo:bHi].
func (m *myers) compare(aLo, aHi, bLo, bHi int) {
	for {
		for aLo < aHi && bLo < bHi && m.a[aLo] == m.b[bLo] {
			aLo++
			bLo++
		}
		for aLo < aHi && bLo < bHi && m.a[aHi-1] == m.b[bHi-1] {
			aHi--
			bHi--
		}
		switch {
		case aLo == aHi:
			for j := bLo; j < bHi; j++ {
				m.insB[j] = true
			}
			return
		case bLo == bHi:
			for i := aLo; i < aHi; i++ {
				m.delA[i] = true
			}
			return
		}
		x0, y0, x1, y1 := m.middleSnake(aLo, aHi, bLo, bHi)
		// Recurse on the smaller half and loop on the other, keeping the
		// stack shallow.
		if (x0-aLo)+(y0-bLo) < (aHi-x1)+(bHi-y1) {
			m.compare(aLo, x0, bLo, y0)
			aLo, bLo = x1, y1
		} else {
			m.compare(x1, aHi, y1, bHi)
			aHi, bHi = x0, y0
		}
	}
}

// middleSnake finds the middle snake of an optimal path from (aLo,bLo) to
// (aHi,bHi): the run of equal lines from (x0,y0) to (x1,y1), in absolute
// indexes, where the forward and backward searches meet. Both ranges are
// non-empty and their first and last lines differ, so the edit distance
// is at least 2 and both halves around the snake are strictly smaller.
func (m *myers) middleSnake(aLo, aHi, bLo, bHi int) (x0, y0, x1, y1 int) {
	a, b := m.a[aLo:aHi], m.b[bLo:bHi]
	n, mm := len(a), len(b)
	delta := n - mm
	odd := delta&1 != 0
	maxD := (n + mm + 1) / 2
	off := maxD + 1 // vf[off+k] is diagonal k, k = x - y
	vf, vb := m.vf[:2*maxD+3], m.vb[:2*maxD+3]
	vf[off+1], vb[off+1] = 0, 0

	for d := 0; d <= maxD; d++ {
		// Forward: furthest reaching d-paths from the top left.
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && vf[off+k-1] < vf[off+k+1]) {
				x = vf[off+k+1] // down: insertion
			} else {
				x = vf[off+k-1] + 1 // right: deletion
			}
			y := x - k
			sx, sy := x, y
			for x < n && y < mm && a[x] == b[y] {
				x++
				y++
			}
			vf[off+k] = x
			// Backward diagonal delta-k holds a (d-1)-path when it lies
			// within [-(d-1), d-1].
			if odd && k >= delta-(d-1) && k <= delta+(d-1) && x+vb[off+delta-k] >= n {
				return aLo + sx, bLo + sy, aLo + x, bLo + y
			}
		}
		// Backward: furthest reaching d-paths from the bottom right, in
		// coordinates counted from the end (x' = n-x, y' = mm-y).
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && vb[off+k-1] < vb[off+k+1]) {
				x = vb[off+k+1]
			} else {
				x = vb[off+k-1] + 1
			}
			y := x - k
			sx, sy := x, y
			for x < n && y < mm && a[n-1-x] == b[mm-1-y] {
				x++
				y++
			}
			vb[off+k] = x
			if !odd && delta-k >= -d && delta-k <= d && x+vf[off+delta-k] >= n {
				return aLo + n - x, bLo + mm - y, aLo + n - sx, bLo + mm - sy
			}
		}
	}
	panic("unifiedDiff: no middle snake") // unreachable: the paths always meet by maxD
}

// slideChanges moves each run of changed lines of one side (lines,
// changed) to where diff would show it, without changing how many lines
// change. A run whose first line equals the line after it can slide down
// by one, and one whose last line equals the line before it can slide up,
// so an edit script is ambiguous when lines repeat ("a b b" to "a b": which
// b went?). Each run is slid up and down as far as it goes, merging with
// the runs it meets, and is then left at the lowest place where it lines
// up with changes of the other side (otherChanged), else at the bottom.
func slideChanges(lines []int, changed, otherChanged []bool) {
	// gaps[k] is the number of changed lines of the other side just before
	// its k-th unchanged line; the last entry counts those after its last.
	gaps := make([]int, 0, len(otherChanged)+1)
	run := 0
	for _, c := range otherChanged {
		if c {
			run++
			continue
		}
		gaps = append(gaps, run)
		run = 0
	}
	gaps = append(gaps, run)

	n := len(lines)
	i := 0
	u := 0 // unchanged lines before i, which pair with the other side's in order
	for {
		for i < n && !changed[i] {
			i++
			u++
		}
		if i == n {
			return
		}
		s, e := i, i // the run is changed[s:e], with u unchanged lines before s
		for e < n && changed[e] {
			e++
		}
		aligned := -1 // lowest run end lined up with changes of the other side
		for {
			size := e - s
			for s > 0 && lines[s-1] == lines[e-1] {
				s--
				e--
				changed[s], changed[e] = true, false
				u--
				for s > 0 && changed[s-1] {
					s--
				}
			}
			aligned = -1
			if gaps[u] > 0 {
				aligned = e
			}
			for e < n && lines[s] == lines[e] {
				changed[s], changed[e] = false, true
				s++
				e++
				u++
				for e < n && changed[e] {
					e++
				}
				if gaps[u] > 0 {
					aligned = e
				}
			}
			if e-s == size {
				break // no run was merged, so every place passed is one slide apart
			}
		}
		for aligned >= 0 && e > aligned {
			s--
			e--
			changed[s], changed[e] = true, false
			u--
		}
		i = e
	}
}

// hunk is a slice ops[first:last] of the edit script shown together, with
// the 1-based first line and the line count of each side.
type hunk struct {
	first, last    int
	aStart, aCount int
	bStart, bCount int
}

// groupHunks cuts the edit script into hunks of changes with ctx lines of
// context around them, merging changes separated by at most 2*ctx
// unchanged lines, as diff does.
func groupHunks(ops []diffOp, ctx int) []hunk {
	var hunks []hunk
	for i := 0; i < len(ops); {
		if ops[i].kind == opEqual {
			i++
			continue
		}
		first := max(i-ctx, 0)
		// Extend over changes and short runs of equal lines.
		end := i // one past the last change in the hunk
		for j := i; j < len(ops); {
			if ops[j].kind != opEqual {
				j++
				end = j
				continue
			}
			k := j
			for k < len(ops) && ops[k].kind == opEqual {
				k++
			}
			if k == len(ops) || k-j > 2*ctx {
				break
			}
			j = k
		}
		last := min(end+ctx, len(ops))
		h := hunk{first: first, last: last, aStart: ops[first].a + 1, bStart: ops[first].b + 1}
		for _, op := range ops[first:last] {
			if op.kind != opInsert {
				h.aCount++
			}
			if op.kind != opDelete {
				h.bCount++
			}
		}
		hunks = append(hunks, h)
		i = last
	}
	return hunks
}
