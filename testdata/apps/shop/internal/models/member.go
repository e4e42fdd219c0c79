package models

import "strings"

// Member is a loyalty-programme member, keyed by the card number printed on
// their card rather than by a number the database hands out.
type Member struct {
	ID   string
	Name string
}

// DisplayName is the member's name, or their card number when they have
// not told us their name.
func (m Member) DisplayName() string {
	if name := strings.TrimSpace(m.Name); name != "" {
		return name
	}
	return m.ID
}
