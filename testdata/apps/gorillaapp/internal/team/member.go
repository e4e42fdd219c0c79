// Package team holds the members of the team.
package team

// Member is someone on the team; members sign in.
type Member struct {
	ID          int64
	Handle      string
	DisplayName string
}
