package models

import "strconv"

// TeamMemberID is the primary key of a TeamMember. It is a named type so
// that a staff ID cannot be passed where a customer's User ID is expected.
type TeamMemberID int64

// String formats the ID in decimal.
func (id TeamMemberID) String() string {
	return strconv.FormatInt(int64(id), 10)
}

// TeamMember is a member of the shop's staff.
type TeamMember struct {
	ID TeamMemberID
}
