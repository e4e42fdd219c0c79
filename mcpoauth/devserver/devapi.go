package devserver

import (
	"net/http"
	"strconv"
)

// The /_dev endpoints let tests in other processes read the counters and
// make time pass. They need no credentials: the server is for loopback.

func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Server) serveResetStats(w http.ResponseWriter, r *http.Request) {
	s.ResetStats()
	writeJSON(w, http.StatusOK, map[string]bool{"reset": true})
}

// serveExpire expires access tokens now: form or query user=NAME limits it
// to one user; refresh=1 expires their refresh tokens too.
func (s *Server) serveExpire(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form does not parse", http.StatusBadRequest)
		return
	}
	refresh, _ := strconv.ParseBool(r.Form.Get("refresh"))
	access, refreshed := s.Expire(r.Form.Get("user"), refresh)
	writeJSON(w, http.StatusOK, map[string]int{"expired_access_tokens": access, "expired_refresh_tokens": refreshed})
}

// Expire makes the live access tokens of user (all users when empty)
// expire now, and their refresh tokens too when refresh is set. It returns
// how many of each it expired.
func (s *Server) Expire(user string, refresh bool) (access, refreshTokens int) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.st.access {
		if (user == "" || t.family.user == user) && now.Before(t.expires) {
			t.expires = now
			t.family.accessExpires = now
			access++
		}
	}
	if refresh {
		for _, t := range s.st.refresh {
			if (user == "" || t.family.user == user) && !t.used && now.Before(t.expires) {
				t.expires = now
				refreshTokens++
			}
		}
	}
	return access, refreshTokens
}

// serveDevRevoke revokes token families as if the user withdrew the
// client's access at the provider: user=NAME or family=ID.
func (s *Server) serveDevRevoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form does not parse", http.StatusBadRequest)
		return
	}
	user, fam := r.Form.Get("user"), r.Form.Get("family")
	if user == "" && fam == "" {
		http.Error(w, "give user=NAME or family=ID", http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"families_revoked": s.RevokeFamilies(user, fam)})
}

// RevokeFamilies revokes the live token families of user, or the family
// with id fam (either may be empty, not both), and returns how many.
func (s *Server) RevokeFamilies(user, fam string) int {
	if user == "" && fam == "" {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.st.families {
		if f.revoked == "" && (user == "" || f.user == user) && (fam == "" || f.id == fam) {
			s.st.revokeFamilyLocked(f, revokedByDev)
			n++
		}
	}
	return n
}
