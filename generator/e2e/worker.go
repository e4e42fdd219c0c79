package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
)

// HammerReport is what `shop-worker hammer` prints when it is done: the
// calls that succeeded and failed, the failures by message, and how long
// the run took.
type HammerReport struct {
	OK     int            `json:"ok"`
	Failed int            `json:"failed"`
	Errors map[string]int `json:"errors"`
	// Of the failed: calls that would ask the user to reconnect, and
	// calls refused with "try later" (ErrRefreshUnavailable).
	Reauth      int     `json:"reauth"`
	Unavailable int     `json:"unavailable"`
	Seconds     float64 `json:"seconds"`
}

// ParseHammer reads the report from a hammer run's output.
func ParseHammer(output string) (HammerReport, error) {
	var r HammerReport
	for _, line := range strings.Split(output, "\n") {
		if rest, ok := strings.CutPrefix(line, "hammer: "); ok && strings.HasPrefix(rest, "{") {
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				return r, fmt.Errorf("hammer report %q: %w", rest, err)
			}
			return r, nil
		}
	}
	return r, fmt.Errorf("no hammer report in:\n%s", output)
}

// ParseEnqueued reads the IDs of the jobs `shop-worker enqueue` inserted.
func ParseEnqueued(output string) ([]int64, error) {
	for _, line := range strings.Split(output, "\n") {
		if rest, ok := strings.CutPrefix(line, "enqueued: "); ok {
			var ids []int64
			if err := json.Unmarshal([]byte(rest), &ids); err != nil {
				return nil, fmt.Errorf("enqueued %q: %w", rest, err)
			}
			return ids, nil
		}
	}
	return nil, fmt.Errorf("no enqueued line in:\n%s", output)
}
